package search

import (
	"cmp"
	"math/bits"
	"net/url"
	"slices"
	"strings"

	"github.com/medledger/medledger/internal/fhir"
)

// Ref names a resource.
type Ref struct{ Type, ID string }

// Result is one page of a search. The caller owns its slices.
type Result struct {
	// IDs are the matches of this page, in the order of _sort (default:
	// _lastUpdated descending, then id); Versions[i] is the version of
	// IDs[i] that matched.
	IDs      []string
	Versions []uint64
	// Total is the exact number of matches over all pages.
	Total int
	// Offset and Count are the page served: its first match's position
	// and the page size (_count, after the MaxCount limit).
	Offset, Count int
	// Next is the _offset of the next page, 0 if this page is the last.
	// Offsets are stable while the index does not change: the order is
	// total (ties broken by id).
	Next int
	// Includes are the resources the _include parameters name from this
	// page's matches, once each, that are in the index. Like the matches,
	// they are not filtered by any authorisation: that is the caller's.
	Includes []Ref
	// Issues report what was ignored (unknown parameters, unsupported
	// modifiers, empty values) or adjusted (_count), for an
	// OperationOutcome next to the results.
	Issues []fhir.Issue
}

// Search finds the resources of a type that match q, the query parameters
// of a FHIR search (type-level, e.g. Observation?patient=123&date=ge2020).
// Parameters a FHIR client may send that shape the response rather than the
// match (_format, _pretty, _summary, _elements, _total) are left to the
// caller and ignored here. Search returns an *Error wrapping ErrType for a
// type it does not index, ErrInvalid for a malformed value, and
// ErrUnsupported, under Options.Strict only, for an unknown parameter or an
// unsupported modifier. Safe to call concurrently with everything else.
func (ix *Index) Search(typ string, q url.Values, o Options) (*Result, error) {
	sc := schemas[typ]
	if sc == nil {
		return nil, &Error{Issue: fhir.Errorf("not-supported", "", "resource type is not searchable"), Err: ErrType}
	}
	pq, err := parse(sc, q, o)
	if err != nil {
		return nil, err
	}
	res := &Result{Offset: pq.offset, Count: pq.count, Issues: pq.issues}
	pq.filter = o.Filter
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if st := ix.types[typ]; st != nil {
		ix.runLocked(st, pq, res, true)
	}
	return res, nil
}

// runLocked evaluates a parsed query. The caller holds ix.mu (read). With
// usePostings false every document is scanned, which tests compare against.
func (ix *Index) runLocked(st *store, pq *query, res *Result, usePostings bool) {
	ms := make([]matcher, len(pq.clauses))
	driver := -1
	var driverDocs []uint32
	best := len(st.ids) + 1
	for i := range pq.clauses {
		ms[i] = st.matcher(&pq.clauses[i])
		if usePostings && ms[i].indexed && ms[i].size < best {
			driver, best = i, ms[i].size
		}
	}
	if driver >= 0 {
		driverDocs = ms[driver].docs()
	}
	k := 0
	if pq.count > 0 {
		k = pq.offset + pq.count
	}
	srt := sorter{docs: st.docs, keys: pq.sort}
	if len(srt.keys) == 0 {
		srt.keys = defaultSort
	}
	// A shallow page keeps its k first matches in a heap as they come; a
	// deep one collects every match and selects its window in linear time.
	top := topK{s: srt}
	var all []uint32
	deep := k > heapMax
	if !deep {
		top.k = k
	}
	total := 0
	visit := func(n uint32) {
		d := &st.docs[n]
		for i := range ms {
			if i != driver && !ms[i].match(d) {
				return
			}
		}
		if pq.filter != nil && !pq.filter(d.id) {
			return
		}
		total++
		if deep {
			all = append(all, n)
		} else {
			top.push(n)
		}
	}
	// Documents are numbered in the order they were first put, so under
	// the default order (newest first) the highest numbers tend to come
	// first: visiting them first lets the heap reject most of the rest
	// with one comparison. The order of visits does not change the result.
	backwards := srt.keys[0].p.special == specialLastUpdated && srt.keys[0].desc
	switch {
	case driver >= 0 && backwards:
		for i := len(driverDocs) - 1; i >= 0; i-- {
			visit(driverDocs[i])
		}
	case driver >= 0:
		for _, n := range driverDocs {
			visit(n)
		}
	case backwards:
		for n := len(st.docs) - 1; n >= 0; n-- {
			if st.docs[n].id != "" {
				visit(uint32(n))
			}
		}
	default:
		for n := range st.docs {
			if st.docs[n].id != "" {
				visit(uint32(n))
			}
		}
	}
	res.Total = total
	var page []uint32
	if deep {
		page = window(all, pq.offset, pq.count, srt.compare)
	} else if page = top.sorted(); pq.offset < len(page) {
		page = page[pq.offset:]
	} else {
		page = nil
	}
	res.IDs = make([]string, len(page))
	res.Versions = make([]uint64, len(page))
	for i, n := range page {
		res.IDs[i], res.Versions[i] = st.docs[n].id, st.docs[n].version
	}
	if pq.count > 0 && pq.offset+pq.count < total {
		res.Next = pq.offset + pq.count
	}
	if len(pq.includes) > 0 {
		res.Includes = ix.includesLocked(st, page, pq.includes)
	}
}

// includesLocked resolves _include over a page. The caller holds ix.mu.
func (ix *Index) includesLocked(st *store, page []uint32, incs []include) []Ref {
	var out []Ref
	seen := map[Ref]bool{}
	for _, n := range page {
		for _, p := range st.docs[n].terms {
			if p.text || p.a == "" {
				continue
			}
			for _, inc := range incs {
				if p.param != inc.p.num || inc.target != "" && p.a != inc.target {
					continue
				}
				r := Ref{p.a, p.b}
				if seen[r] {
					continue
				}
				seen[r] = true
				if other := ix.types[r.Type]; other != nil {
					if _, ok := other.ids[r.ID]; ok {
						out = append(out, r)
					}
				}
			}
		}
	}
	return out
}

// matcher evaluates one clause against documents.
type matcher struct {
	match func(d *doc) bool
	// indexed clauses can also enumerate their matches: size is how many
	// document numbers docs would return (before removing duplicates).
	indexed bool
	size    int
	docs    func() []uint32
}

// matcher compiles a clause against the store's current postings.
func (st *store) matcher(c *clause) matcher {
	p := c.p
	num := p.num
	switch {
	case c.mod == modMissing:
		has := func(d *doc) bool {
			if p.special != notSpecial {
				return true
			}
			if p.kind == kindDate {
				return slices.ContainsFunc(d.dates, func(x dated) bool { return x.param == num })
			}
			return slices.ContainsFunc(d.terms, func(x *posting) bool { return x.param == num })
		}
		return matcher{match: func(d *doc) bool { return has(d) != c.missing }}
	case p.special == specialLastUpdated:
		return matcher{match: func(d *doc) bool {
			// An instant: a point, one microsecond wide at the index's
			// precision (search.html#date: "an interval with an
			// effective width of 0").
			s := span{d.updated, d.updated + 1}
			return slices.ContainsFunc(c.dates, func(dc dateCond) bool { return dc.match(s) })
		}}
	case p.special == specialID:
		ids := map[string]bool{}
		var docs []uint32
		for _, id := range c.ids {
			if n, ok := st.ids[id]; ok && !ids[id] {
				docs = append(docs, n)
			}
			ids[id] = true
		}
		if c.mod == modNot {
			return matcher{match: func(d *doc) bool { return !ids[d.id] }}
		}
		slices.Sort(docs)
		return matcher{match: func(d *doc) bool { return ids[d.id] }, indexed: true, size: len(docs),
			docs: func() []uint32 { return docs }}
	case p.kind == kindDate:
		return matcher{match: func(d *doc) bool {
			for _, x := range d.dates {
				if x.param != num {
					continue
				}
				for _, dc := range c.dates {
					if dc.match(x.span) {
						return true
					}
				}
			}
			return false
		}}
	}
	ps := st.lookup(c)
	member := in(ps)
	has := func(d *doc) bool {
		for _, x := range d.terms {
			if x.param == num && member(x) {
				return true
			}
		}
		return false
	}
	if c.mod == modNot {
		return matcher{match: func(d *doc) bool { return !has(d) }}
	}
	size := 0
	for _, x := range ps {
		size += len(x.docs)
	}
	return matcher{match: has, indexed: true, size: size, docs: func() []uint32 { return union(ps) }}
}

// union merges the document lists of postings, sorted and once each.
func union(ps []*posting) []uint32 {
	switch len(ps) {
	case 0:
		return nil
	case 1:
		return ps[0].docs // read only, under the caller's lock
	}
	n := 0
	for _, p := range ps {
		n += len(p.docs)
	}
	out := make([]uint32, 0, n)
	for _, p := range ps {
		out = append(out, p.docs...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// lookup returns the postings a token, string or reference clause matches.
func (st *store) lookup(c *clause) []*posting {
	num := c.p.num
	var out []*posting
	switch {
	case c.mod == modText || c.p.kind == kindString:
		maps := st.vals
		if c.mod == modText {
			maps = st.texts
		}
		for _, s := range c.strs {
			switch c.mod {
			case modExact:
				for p := maps[num][fold(s)]; p != nil; p = p.next {
					if p.a == s {
						out = append(out, p)
					}
				}
			case modContains:
				for _, g := range st.prefix[num] {
					for _, p := range g {
						if p.text == (c.mod == modText) && strings.Contains(p.b, s) {
							out = append(out, p)
						}
					}
				}
			default:
				for _, p := range st.prefix[num][firstByte(s)] {
					if strings.HasPrefix(p.b, s) {
						out = append(out, p)
					}
				}
			}
		}
	case c.p.kind == kindToken:
		m := st.vals[num]
		for _, t := range c.toks {
			if t.hasSys && t.code == "" {
				// system|: every code of the system.
				for _, head := range m {
					for p := head; p != nil; p = p.next {
						if p.a == t.sys {
							out = append(out, p)
						}
					}
				}
				continue
			}
			for p := m[t.code]; p != nil; p = p.next {
				if !t.hasSys || p.a == t.sys || p.implicit && t.sys != "" {
					out = append(out, p)
				}
			}
		}
	case c.p.kind == kindReference:
		m := st.vals[num]
		for _, r := range c.refs {
			typ := r.typ
			if c.refType != "" {
				if typ != "" && typ != c.refType {
					continue
				}
				typ = c.refType
			}
			for p := m[r.id]; p != nil; p = p.next {
				if typ == "" || p.a == typ {
					out = append(out, p)
				}
			}
		}
	}
	if len(out) > 1 {
		// Values of one clause may name the same posting twice.
		seen := make(map[*posting]bool, len(out))
		out = slices.DeleteFunc(out, func(p *posting) bool {
			dup := seen[p]
			seen[p] = true
			return dup
		})
	}
	return out
}

// defaultSort is _lastUpdated descending (then id, as always).
var defaultSort = []sortKey{{p: &param{name: "_lastUpdated", kind: kindDate, special: specialLastUpdated}, desc: true}}

// sorter orders documents by sort keys, then by id, so the order is total.
type sorter struct {
	docs []doc
	keys []sortKey
}

func (s *sorter) less(x, y uint32) bool { return s.compare(x, y) < 0 }

func (s *sorter) compare(x, y uint32) int {
	dx, dy := &s.docs[x], &s.docs[y]
	for _, k := range s.keys {
		if c := k.compare(dx, dy); c != 0 {
			return c
		}
	}
	return strings.Compare(dx.id, dy.id)
}

// compare orders two documents by one key. Where a document has several
// values, the one that comes first in the requested order counts
// (search.html#_sort): the lowest ascending, the highest descending; for a
// date range, its start ascending and its end descending. Documents without
// a value come last either way.
func (k sortKey) compare(x, y *doc) int {
	var c int
	switch k.p.special {
	case specialID:
		c = strings.Compare(x.id, y.id)
	case specialLastUpdated:
		c = cmp.Compare(x.updated, y.updated)
	default:
		var okx, oky bool
		if k.p.kind == kindDate {
			var vx, vy int64
			vx, okx = dateKey(x, k.p.num, k.desc)
			vy, oky = dateKey(y, k.p.num, k.desc)
			c = cmp.Compare(vx, vy)
		} else {
			var vx, vy string
			vx, okx = termKey(x, k.p.num, k.desc)
			vy, oky = termKey(y, k.p.num, k.desc)
			c = strings.Compare(vx, vy)
		}
		switch {
		case okx && !oky:
			return -1
		case !okx && oky:
			return 1
		case !okx && !oky:
			return 0
		}
	}
	if k.desc {
		c = -c
	}
	return c
}

func dateKey(d *doc, num uint16, desc bool) (int64, bool) {
	var v int64
	ok := false
	for _, x := range d.dates {
		if x.param != num {
			continue
		}
		switch {
		case !ok:
			v, ok = x.lo, true
			if desc {
				v = x.hi
			}
		case desc:
			v = max(v, x.hi)
		default:
			v = min(v, x.lo)
		}
	}
	return v, ok
}

func termKey(d *doc, num uint16, desc bool) (string, bool) {
	var v string
	ok := false
	for _, p := range d.terms {
		if p.param != num || p.text {
			continue
		}
		switch {
		case !ok:
			v, ok = p.b, true
		case desc:
			v = max(v, p.b)
		default:
			v = min(v, p.b)
		}
	}
	return v, ok
}

// topK keeps the first k documents in sort order seen so far, in a heap
// whose root is the last of them, so most documents cost one comparison.
type topK struct {
	k int
	h []uint32
	s sorter
}

func (t *topK) push(n uint32) {
	if t.k == 0 {
		return
	}
	if len(t.h) < t.k {
		t.h = append(t.h, n)
		// Sift up: a parent comes after its children.
		for i := len(t.h) - 1; i > 0; {
			parent := (i - 1) / 2
			if !t.s.less(t.h[parent], t.h[i]) {
				break
			}
			t.h[parent], t.h[i] = t.h[i], t.h[parent]
			i = parent
		}
		return
	}
	if !t.s.less(n, t.h[0]) {
		return
	}
	t.h[0] = n
	for i := 0; ; {
		l, r, last := 2*i+1, 2*i+2, i
		if l < len(t.h) && t.s.less(t.h[last], t.h[l]) {
			last = l
		}
		if r < len(t.h) && t.s.less(t.h[last], t.h[r]) {
			last = r
		}
		if last == i {
			break
		}
		t.h[i], t.h[last] = t.h[last], t.h[i]
		i = last
	}
}

// sorted returns the kept documents in order.
func (t *topK) sorted() []uint32 {
	slices.SortFunc(t.h, t.s.compare)
	return t.h
}

// heapMax is the deepest page (offset+count) kept in a heap; deeper pages
// select their window from all matches instead.
const heapMax = 1024

// window returns the matches of ranks [off, off+count) in order, reordering
// a: two linear-time selections and a sort of the window only.
func window(a []uint32, off, count int, cmp func(x, y uint32) int) []uint32 {
	if off >= len(a) {
		return nil
	}
	selectNth(a, off, cmp)
	a = a[off:]
	if count < len(a) {
		selectNth(a, count-1, cmp)
		a = a[:count]
	}
	slices.SortFunc(a, cmp)
	return a
}

// selectNth reorders a so that a[k] holds the element of rank k, those
// before it come earlier in the order and those after it later
// (quickselect with a median-of-three pivot, falling back to a sort when
// the pivots keep being poor). cmp must be a strict total order.
func selectNth(a []uint32, k int, cmp func(x, y uint32) int) {
	lo, hi := 0, len(a)
	for budget := 2 * bits.Len(uint(len(a))); hi-lo > 12; budget-- {
		if budget == 0 {
			slices.SortFunc(a[lo:hi], cmp)
			return
		}
		m, last := lo+(hi-lo)/2, hi-1
		// Order a[lo], a[m], a[last]; the median lands in a[m].
		if cmp(a[m], a[lo]) < 0 {
			a[m], a[lo] = a[lo], a[m]
		}
		if cmp(a[last], a[m]) < 0 {
			a[last], a[m] = a[m], a[last]
			if cmp(a[m], a[lo]) < 0 {
				a[m], a[lo] = a[lo], a[m]
			}
		}
		a[m], a[last] = a[last], a[m]
		pivot, i := a[last], lo
		for j := lo; j < last; j++ {
			if cmp(a[j], pivot) < 0 {
				a[i], a[j] = a[j], a[i]
				i++
			}
		}
		a[i], a[last] = a[last], a[i]
		switch {
		case k == i:
			return
		case k < i:
			hi = i
		default:
			lo = i + 1
		}
	}
	slices.SortFunc(a[lo:hi], cmp)
}
