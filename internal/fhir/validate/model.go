package validate

import (
	"fmt"
	"strings"
)

// genStruct and genElem are the shapes of the generated tables
// (rules_gen.go); buildModel turns them into structTypes.
type genStruct struct {
	name     string // type name, or backbone element path (Observation.component)
	base     string // Element, BackboneElement, Resource or DomainResource; "" for Element and Resource
	resource bool
	elems    []genElem
}

type genElem struct {
	name    string // JSON name; a choice ends in [x]
	types   string // FHIR types separated by "|"
	targets string // a Reference's allowed target types separated by "|"; "" for any
	flags   uint8
}

// genElem flags.
const (
	required uint8 = 1 << iota // min >= 1
	repeated                   // a JSON array
)

// kind is what the rules check in one element value.
type kind uint8

const (
	kindOther       kind = iota // a primitive the rules check only for emptiness
	kindDate                    // date: a real calendar day
	kindDateTime                // dateTime: a real calendar day
	kindInstant                 // instant: a real calendar day
	kindInteger                 // integer: a whole 32-bit number
	kindPositiveInt             // positiveInt: 1 and up
	kindUnsignedInt             // unsignedInt: 0 and up
	kindStruct                  // a complex datatype or backbone element
	kindReference               // a Reference: a struct plus target types
	kindResource                // a nested resource (contained, Bundle.entry.resource)
)

var primitiveKinds = map[string]kind{
	"date": kindDate, "dateTime": kindDateTime, "instant": kindInstant,
	"integer": kindInteger, "positiveInt": kindPositiveInt, "unsignedInt": kindUnsignedInt,
	"base64Binary": kindOther, "boolean": kindOther, "canonical": kindOther, "code": kindOther,
	"decimal": kindOther, "id": kindOther, "markdown": kindOther, "oid": kindOther,
	"string": kindOther, "time": kindOther, "uri": kindOther, "url": kindOther,
	"uuid": kindOther, "xhtml": kindOther,
}

// maxChoices bounds the choice elements of one structure, so the walker can
// track them in a fixed array.
const maxChoices = 8

// structType is a resource, datatype or backbone element, ready for the
// walker. Immutable once built.
type structType struct {
	name     string
	resource bool
	props    map[string]*prop // by JSON property name, including choice variants
	required []*element
}

// element is one element definition of a structure.
type element struct {
	name     string // as in the definition: status, value[x]
	required bool
	repeated bool
	choice   int      // index among the structure's choice elements, or -1
	targets  []string // Reference targets; nil for any
	keys     []string // every JSON name that makes the element present (with _ variants)
}

// prop is one JSON property name of a structure: an element, or one type
// of a choice element (valueQuantity).
type prop struct {
	elem     *element
	typeName string // FHIR type of this property
	kind     kind
	st       *structType // for kindStruct and kindReference
}

// buildModel resolves the generated tables. It fails only if they are
// inconsistent, which the generator's checks rule out.
func buildModel(gen []genStruct) (map[string]*structType, error) {
	structs := make(map[string]*structType, len(gen))
	byName := make(map[string]*genStruct, len(gen))
	for i := range gen {
		g := &gen[i]
		structs[g.name] = &structType{name: g.name, resource: g.resource, props: map[string]*prop{}}
		byName[g.name] = g
	}
	var add func(st *structType, g *genStruct) error
	add = func(st *structType, g *genStruct) error {
		if g.base != "" {
			b := byName[g.base]
			if b == nil {
				return fmt.Errorf("%s: unknown base %s", g.name, g.base)
			}
			if err := add(st, b); err != nil {
				return err
			}
		}
		for _, ge := range g.elems {
			e := &element{
				name:     ge.name,
				required: ge.flags&required != 0,
				repeated: ge.flags&repeated != 0,
				choice:   -1,
			}
			if ge.targets != "" {
				e.targets = strings.Split(ge.targets, "|")
			}
			base, isChoice := strings.CutSuffix(ge.name, "[x]")
			if isChoice {
				e.choice = countChoices(st)
				if e.choice >= maxChoices {
					return fmt.Errorf("%s: more than %d choice elements", g.name, maxChoices)
				}
			}
			for t := range strings.SplitSeq(ge.types, "|") {
				p := &prop{elem: e, typeName: t}
				switch k, ok := primitiveKinds[t]; {
				case ok:
					p.kind = k
				case t == "Resource":
					p.kind = kindResource
				case t == "Reference":
					p.kind, p.st = kindReference, structs[t]
				default:
					p.kind, p.st = kindStruct, structs[t]
					if p.st == nil {
						return fmt.Errorf("%s.%s: unknown type %s", g.name, ge.name, t)
					}
				}
				key := base
				if isChoice {
					key = base + strings.ToUpper(t[:1]) + t[1:]
				}
				st.props[key] = p
				e.keys = append(e.keys, key, "_"+key)
			}
			if e.required {
				st.required = append(st.required, e)
			}
		}
		return nil
	}
	for name, st := range structs {
		if err := add(st, byName[name]); err != nil {
			return nil, err
		}
	}
	for _, t := range []string{"Element", "Reference", "Resource"} {
		if structs[t] == nil {
			return nil, fmt.Errorf("no %s structure", t)
		}
	}
	return structs, nil
}

func countChoices(st *structType) int {
	seen := map[*element]bool{}
	for _, p := range st.props {
		if p.elem.choice >= 0 {
			seen[p.elem] = true
		}
	}
	return len(seen)
}
