package search

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/medledger/medledger/internal/fhir"
)

// kind is a search parameter type (search.html#ptypes) this package
// implements.
type kind uint8

const (
	kindToken kind = iota + 1
	kindDate
	kindReference
	kindString
)

func (k kind) String() string {
	switch k {
	case kindToken:
		return "token"
	case kindDate:
		return "date"
	case kindReference:
		return "reference"
	case kindString:
		return "string"
	}
	return "?"
}

// def is one row of table.
type def struct {
	base, name string
	kind       kind
	expr       string // the official FHIRPath expression, for base only
	id         string // the official SearchParameter id
}

// param is a search parameter of one resource type.
type param struct {
	name    string
	kind    kind
	num     uint16 // index in schema.params
	def     string
	x       expr
	special special
}

type special uint8

const (
	notSpecial special = iota
	specialID
	specialLastUpdated
)

// schema is the set of search parameters of one resource type; immutable.
type schema struct {
	typ    string
	params []*param
	byName map[string]*param
}

// schemas holds a schema per supported type. It is computed once from the
// constant table and never modified.
var schemas = buildSchemas()

func buildSchemas() map[string]*schema {
	out := make(map[string]*schema, len(fhir.SupportedTypes))
	for _, t := range fhir.SupportedTypes {
		sc := &schema{typ: t, byName: map[string]*param{}}
		for _, d := range table {
			if d.base != t && d.base != "Resource" {
				continue
			}
			x, err := compile(d.expr)
			if err != nil {
				// The table is a constant; TestSchemas compiles it.
				panic(fmt.Sprintf("search: table row %s.%s: %v", d.base, d.name, err))
			}
			p := &param{name: d.name, kind: d.kind, num: uint16(len(sc.params)), def: d.id, x: x}
			switch d.name {
			case "_id":
				p.special = specialID
			case "_lastUpdated":
				p.special = specialLastUpdated
			}
			sc.params = append(sc.params, p)
			sc.byName[d.name] = p
		}
		out[t] = sc
	}
	return out
}

// Param describes a search parameter Search accepts, for a
// CapabilityStatement's rest.resource.searchParam.
type Param struct {
	Name string // the parameter's code, e.g. "birthdate"
	Type string // token, date, reference or string
	// Definition is the canonical URL of the official SearchParameter.
	Definition string
}

// Params returns the search parameters Search accepts for a type, sorted by
// name; nil for a type it does not index. The caller owns the slice.
func Params(typ string) []Param {
	sc := schemas[typ]
	if sc == nil {
		return nil
	}
	out := make([]Param, 0, len(sc.params))
	for _, p := range sc.params {
		out = append(out, Param{p.name, p.kind.String(), "http://hl7.org/fhir/SearchParameter/" + p.def})
	}
	slices.SortFunc(out, func(a, b Param) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Index is an in-memory search index over the current version of every
// resource of the supported types. The zero value is an empty index ready
// to use. It is safe for concurrent use: searches share a read lock, Put and
// Delete take the write lock only to apply values extracted beforehand.
//
// It holds personal data (names, identifiers, dates of birth) in memory
// only; nothing in this package writes it anywhere.
type Index struct {
	mu sync.RWMutex
	// types maps a resource type to its store.
	// +checklocks:mu
	types map[string]*store
}

// store indexes the resources of one type. Every field is guarded by the
// Index's mu.
type store struct {
	sc   *schema
	docs []doc             // by document number; a free slot has id ""
	free []uint32          // free document numbers, reused first
	ids  map[string]uint32 // resource id → document number
	// vals[param] maps a value posting's b to the chain of postings
	// sharing it; texts[param] the same for a token parameter's display
	// texts (searched with :text).
	vals, texts []map[string]*posting
	// prefix[param] groups the folded postings of a string parameter (or a
	// token parameter's texts) by the first byte of their folded form, so
	// a prefix search scans one group only.
	prefix []map[byte][]*posting
}

// doc is what the index keeps of one resource: no tree, only the postings
// it is on and its date ranges.
type doc struct {
	id      string
	version uint64
	updated int64      // meta.lastUpdated, microseconds since the epoch
	terms   []*posting // every posting list the document is on
	dates   []dated
}

// dated is one date range of a date parameter.
type dated struct {
	span
	param uint16
}

// posting is the sorted list of documents having one value of one
// parameter. Its (a, b) are, by parameter kind:
//
//	token      system, code (Identifier: system, value)
//	token text display text, its folded form
//	string     value, its folded form
//	reference  resource type, id; or "", the whole reference
//
// Postings are found by b; those sharing a b are chained through next.
type posting struct {
	docs     []uint32
	a, b     string
	next     *posting
	slot     int32 // index in its prefix group, or -1
	param    uint16
	text     bool
	implicit bool // a token with an implicit system (code, boolean)
}

// extracted are the values of one resource, computed before locking.
type extracted struct {
	keys  []pkey
	dates []dated
}

type pkey struct {
	key
	param uint16
}

// extract computes the compact search values of a resource tree.
func (sc *schema) extract(tree map[string]any) extracted {
	var ex extracted
	var ks []key
	var ds []span
	for _, p := range sc.params {
		if p.special != notSpecial {
			continue
		}
		ks, ds = ks[:0], ds[:0]
		if p.x.deceased {
			dead := false
			p.x.eval(tree, func(n node) { dead = dead || deceasedValue(n) })
			ks = tokens(node{v: dead}, ks)
		} else {
			p.x.eval(tree, func(n node) {
				switch p.kind {
				case kindToken:
					ks = tokens(n, ks)
				case kindString:
					ks = strs(n, ks)
				case kindReference:
					ks = refs(n, ks)
				case kindDate:
					ds = dates(n, ds)
				}
			})
		}
		for _, k := range ks {
			ex.keys = append(ex.keys, pkey{k, p.num})
		}
		for _, s := range ds {
			ex.dates = append(ex.dates, dated{s, p.num})
		}
	}
	// A value may be selected twice (a code in two codings): keep one.
	slices.SortFunc(ex.keys, func(x, y pkey) int {
		return cmp.Or(cmp.Compare(x.param, y.param), cmp.Compare(x.b, y.b), cmp.Compare(x.a, y.a),
			boolCmp(x.text, y.text), boolCmp(x.implicit, y.implicit))
	})
	ex.keys = slices.Compact(ex.keys)
	slices.SortFunc(ex.dates, func(x, y dated) int {
		return cmp.Or(cmp.Compare(x.param, y.param), cmp.Compare(x.lo, y.lo), cmp.Compare(x.hi, y.hi))
	})
	ex.dates = slices.Compact(ex.dates)
	return ex
}

func boolCmp(x, y bool) int {
	switch {
	case x == y:
		return 0
	case x:
		return 1
	}
	return -1
}

// Put indexes a version of a resource, replacing what was indexed for typ/id.
// A version older than the one indexed is ignored, so a rebuild that races
// with new writes cannot bring back stale values; the caller serialises the
// writes of one resource (records.Service does). Only the values the search
// parameters need are kept: Put neither modifies tree nor keeps a reference
// to its maps or slices. Resources without an id and types outside
// fhir.SupportedTypes are not indexed. Values are extracted before the lock
// is taken, so searches wait only for the posting lists to change.
func (ix *Index) Put(typ, id string, version uint64, lastUpdated time.Time, tree map[string]any) {
	sc := schemas[typ]
	if sc == nil || id == "" {
		return
	}
	ex := sc.extract(tree)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.types == nil {
		ix.types = map[string]*store{}
	}
	st := ix.types[typ]
	if st == nil {
		n := len(sc.params)
		st = &store{sc: sc, ids: map[string]uint32{},
			vals: make([]map[string]*posting, n), texts: make([]map[string]*posting, n),
			prefix: make([]map[byte][]*posting, n)}
		ix.types[typ] = st
	}
	st.put(id, version, lastUpdated.UnixMicro(), ex)
}

// Delete removes a resource from every posting list of the index; deleting
// what is not indexed does nothing. A later Put indexes it again whatever
// its version.
func (ix *Index) Delete(typ, id string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if st := ix.types[typ]; st != nil {
		st.delete(id)
	}
}

// Len returns the number of resources indexed, of all types.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n := 0
	for _, st := range ix.types {
		n += len(st.ids)
	}
	return n
}

func (st *store) put(id string, version uint64, updated int64, ex extracted) {
	n, ok := st.ids[id]
	if ok && st.docs[n].version > version {
		return
	}
	if !ok {
		if k := len(st.free); k > 0 {
			n, st.free = st.free[k-1], st.free[:k-1]
		} else {
			n = uint32(len(st.docs))
			st.docs = append(st.docs, doc{})
		}
		st.ids[id] = n
	}
	d := &st.docs[n]
	old := d.terms
	// Keep the postings that stay: an update rarely changes most values,
	// and adding to or removing from a long posting list moves memory.
	had := in(old)
	terms := make([]*posting, 0, len(ex.keys))
	for _, k := range ex.keys {
		p := st.posting(k)
		terms = append(terms, p)
		if !had(p) {
			p.add(n)
		}
	}
	if len(old) > 0 {
		keep := in(terms)
		for _, p := range old {
			if !keep(p) {
				st.remove(p, n)
			}
		}
	}
	*d = doc{id: id, version: version, updated: updated, terms: terms, dates: slices.Clip(ex.dates)}
}

// in returns a membership test for a document's postings.
func in(ps []*posting) func(*posting) bool {
	if len(ps) <= 32 {
		return func(p *posting) bool { return slices.Contains(ps, p) }
	}
	set := make(map[*posting]bool, len(ps))
	for _, p := range ps {
		set[p] = true
	}
	return func(p *posting) bool { return set[p] }
}

func (st *store) delete(id string) {
	n, ok := st.ids[id]
	if !ok {
		return
	}
	for _, p := range st.docs[n].terms {
		st.remove(p, n)
	}
	st.docs[n] = doc{}
	delete(st.ids, id)
	st.free = append(st.free, n)
}

// folded reports whether postings of a parameter are grouped by prefix.
func (st *store) folded(param uint16, text bool) bool {
	return text || st.sc.params[param].kind == kindString
}

// posting returns the posting of a key, creating it if need be.
func (st *store) posting(k pkey) *posting {
	maps := st.vals
	if k.text {
		maps = st.texts
	}
	m := maps[k.param]
	if m == nil {
		m = map[string]*posting{}
		maps[k.param] = m
	}
	for p := m[k.b]; p != nil; p = p.next {
		if p.a == k.a && p.implicit == k.implicit {
			return p
		}
	}
	p := &posting{a: k.a, b: k.b, next: m[k.b], slot: -1, param: k.param, text: k.text, implicit: k.implicit}
	m[k.b] = p
	if st.folded(k.param, k.text) {
		g := st.prefix[k.param]
		if g == nil {
			g = map[byte][]*posting{}
			st.prefix[k.param] = g
		}
		c := firstByte(p.b)
		p.slot = int32(len(g[c]))
		g[c] = append(g[c], p)
	}
	return p
}

func firstByte(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}

func (p *posting) add(n uint32) {
	if i, found := slices.BinarySearch(p.docs, n); !found {
		p.docs = slices.Insert(p.docs, i, n)
	}
}

// remove takes document n off a posting, and drops the posting once empty.
func (st *store) remove(p *posting, n uint32) {
	if i, found := slices.BinarySearch(p.docs, n); found {
		p.docs = slices.Delete(p.docs, i, i+1)
	}
	if len(p.docs) > 0 {
		return
	}
	maps := st.vals
	if p.text {
		maps = st.texts
	}
	m := maps[p.param]
	if head := m[p.b]; head == p {
		if p.next == nil {
			delete(m, p.b)
		} else {
			m[p.b] = p.next
		}
	} else {
		for q := head; q != nil; q = q.next {
			if q.next == p {
				q.next = p.next
				break
			}
		}
	}
	if p.slot >= 0 {
		g := st.prefix[p.param]
		c := firstByte(p.b)
		list := g[c]
		last := list[len(list)-1]
		list[p.slot], last.slot = last, p.slot
		list[len(list)-1] = nil
		if list = list[:len(list)-1]; len(list) == 0 {
			delete(g, c)
		} else {
			g[c] = list
		}
	}
	p.next, p.docs = nil, nil
}

// check verifies the store's internal consistency; tests call it after
// mutations. It returns the first inconsistency found.
func (st *store) check() error {
	live := 0
	for n := range st.docs {
		d := &st.docs[n]
		if d.id == "" {
			if len(d.terms) != 0 || len(d.dates) != 0 {
				return fmt.Errorf("free slot %d has values", n)
			}
			continue
		}
		live++
		if m, ok := st.ids[d.id]; !ok || m != uint32(n) {
			return fmt.Errorf("doc %d (%s) not in ids", n, d.id)
		}
		for _, p := range d.terms {
			if _, found := slices.BinarySearch(p.docs, uint32(n)); !found {
				return fmt.Errorf("doc %d lists a posting that does not list it", n)
			}
		}
	}
	if live != len(st.ids) {
		return fmt.Errorf("%d live docs, %d ids", live, len(st.ids))
	}
	if live+len(st.free) != len(st.docs) {
		return fmt.Errorf("%d live + %d free != %d slots", live, len(st.free), len(st.docs))
	}
	for _, maps := range [][]map[string]*posting{st.vals, st.texts} {
		for _, m := range maps {
			for b, head := range m {
				for p := head; p != nil; p = p.next {
					if p.b != b {
						return fmt.Errorf("posting chained under the wrong key")
					}
					if len(p.docs) == 0 || !slices.IsSorted(p.docs) || len(slices.Compact(slices.Clone(p.docs))) != len(p.docs) {
						return fmt.Errorf("posting docs empty, unsorted or duplicated")
					}
					for _, n := range p.docs {
						if int(n) >= len(st.docs) || st.docs[n].id == "" || !slices.Contains(st.docs[n].terms, p) {
							return fmt.Errorf("posting lists doc %d that does not list it", n)
						}
					}
					if st.folded(p.param, p.text) {
						g := st.prefix[p.param][firstByte(p.b)]
						if p.slot < 0 || int(p.slot) >= len(g) || g[p.slot] != p {
							return fmt.Errorf("posting not in its prefix group")
						}
					}
				}
			}
		}
	}
	for _, g := range st.prefix {
		for c, list := range g {
			for i, p := range list {
				if firstByte(p.b) != c || p.slot != int32(i) || len(p.docs) == 0 {
					return fmt.Errorf("prefix group holds a stale posting")
				}
			}
		}
	}
	return nil
}
