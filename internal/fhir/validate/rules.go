package validate

import (
	"strings"
)

// resource checks one resource object of type rt (known to have a schema)
// at the current path: the schema, then the rules.
func (w *walker) resource(obj map[string]any, rt string) {
	w.checkSchema(obj, rt)
	w.object(obj, w.m.structs[rt])
}

// nested checks a resource inside another (contained, Bundle.entry.resource)
// at the current path.
func (w *walker) nested(obj map[string]any) {
	rt, ok := obj["resourceType"].(string)
	if !ok {
		w.push("resourceType", -1)
		w.add(false, "required", "a nested resource needs a resourceType")
		w.pop()
		return
	}
	if w.m.schemas[rt] == nil {
		w.push("resourceType", -1)
		w.add(false, "not-supported", "unsupported resource type (not a FHIR R4 resource type)")
		w.pop()
		return
	}
	w.resource(obj, rt)
}

// object checks the rules for one JSON object of structure st at the
// current path. Unknown properties and primitives of the wrong JSON type
// are left to the schema, which reports them.
func (w *walker) object(obj map[string]any, st *structType) {
	if len(obj) == 0 {
		w.add(false, "structure", w.name()+" is an empty object; omit it instead")
	}
	var chosen [maxChoices]*prop // the variant seen for each choice element
	var mixed [maxChoices]*element
	for key, v := range obj {
		name := key
		ext := false
		if n, ok := strings.CutPrefix(key, "_"); ok && n != "" {
			name, ext = n, true
		}
		p := st.props[name]
		if p != nil && p.elem.choice >= 0 {
			c := &chosen[p.elem.choice]
			if *c != nil && *c != p {
				mixed[p.elem.choice] = p.elem
			}
			*c = p
		}
		if ext {
			// The extensions (and id) of a primitive: an Element, or an
			// array of Elements and nulls aligned with the values. For a
			// primitive the tables leave out, its values show whether it
			// repeats.
			var repeats bool
			if p != nil {
				repeats = p.elem.repeated
			} else {
				_, isArray := obj[name].([]any)
				_, isSingle := obj[name]
				repeats = isArray || !isSingle
			}
			w.push(name, -1)
			w.primitiveExtensions(v, repeats)
			w.pop()
			continue
		}
		if p == nil {
			if key != "resourceType" && elementName(key) {
				// A primitive the tables leave to the schema, or an
				// unknown element the schema reports.
				w.push(key, -1)
				w.primitiveShape(v)
				w.pop()
			}
			continue
		}
		w.push(key, -1)
		if p.elem.repeated {
			w.array(v, p)
		} else {
			w.value(v, p)
		}
		w.pop()
	}
	for _, e := range mixed {
		if e != nil {
			w.push(e.name, -1)
			w.add(false, "structure", "more than one type of "+e.name+" is present; only one is allowed")
			w.pop()
		}
	}
	for _, e := range st.required {
		if !present(obj, e) {
			w.push(e.name, -1)
			w.add(false, "required", e.name+" is required")
			w.pop()
		}
	}
}

func present(obj map[string]any, e *element) bool {
	for _, k := range e.keys {
		if _, ok := obj[k]; ok {
			return true
		}
	}
	return false
}

// array checks a repeated element's JSON array at the current path.
func (w *walker) array(v any, p *prop) {
	arr, ok := v.([]any)
	if !ok {
		if v == nil {
			w.add(false, "structure", w.name()+" is null; omit it instead")
		}
		return // the schema reports a non-array
	}
	if len(arr) == 0 {
		w.add(false, "structure", w.name()+" is an empty array; omit it instead")
		return
	}
	last := len(w.path) - 1
	for i, item := range arr {
		w.path[last].index = i
		w.value(item, p)
	}
	w.path[last].index = -1
}

// value checks one value of property p at the current path.
func (w *walker) value(v any, p *prop) {
	if v == nil {
		w.add(false, "structure", w.name()+" is null; omit it instead")
		return
	}
	if p.kind >= kindStruct {
		// The official schema gives complex types no "type": "object",
		// so it lets a string or an array through where one belongs.
		m, ok := v.(map[string]any)
		if !ok {
			w.add(false, "structure", w.name()+" must be an object, not "+article(jsonType(v)))
			return
		}
		switch p.kind {
		case kindStruct:
			w.object(m, p.st)
		case kindReference:
			w.object(m, p.st)
			w.reference(m, p.elem.targets)
		case kindResource:
			w.nested(m)
		}
		return
	}
	switch v := v.(type) {
	case string:
		if v == "" {
			w.add(false, "value", w.name()+" is an empty string; omit it instead")
			return
		}
		switch p.kind {
		case kindDate, kindDateTime, kindInstant:
			if d := parseDate(v, p.kind); d.ok && !realDate(d) {
				w.add(false, "value", w.name()+" is not a valid "+p.typeName+": that day does not exist in that month")
			}
		}
	case map[string]any, []any:
		if p.typeName == "xhtml" { // the only primitive the schema gives no type
			w.add(false, "structure", w.name()+" must be a string, not "+article(jsonType(v)))
		}
	default: // numbers and booleans
		switch p.kind {
		case kindInteger, kindPositiveInt, kindUnsignedInt:
			if d := integerProblem(v, p.kind); d != "" {
				w.add(false, "value", w.name()+" "+d)
			}
		default:
			if p.typeName == "xhtml" {
				w.add(false, "structure", w.name()+" must be a string, not "+article(jsonType(v)))
			}
		}
	}
}

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	default:
		return "number"
	}
}

// primitiveExtensions checks the _name companion of a primitive at the
// current path: an Element, or for a repeated primitive an array of
// Elements and nulls. The schema gives Element no type, so this is where
// a string or a misplaced array there is caught.
func (w *walker) primitiveExtensions(v any, repeats bool) {
	el := w.m.structs["Element"]
	switch v := v.(type) {
	case map[string]any:
		w.object(v, el)
	case []any:
		if !repeats {
			w.add(false, "structure", "the extensions of "+w.name()+" must be an object, not an array")
			return
		}
		if len(v) == 0 {
			w.add(false, "structure", w.name()+" is an empty array; omit it instead")
			return
		}
		last := len(w.path) - 1
		for i, item := range v {
			w.path[last].index = i
			switch item := item.(type) {
			case map[string]any:
				w.object(item, el)
			case nil: // no extensions for this value
			default:
				w.add(false, "structure", "the extensions of "+w.name()+" must be an object or null, not "+article(jsonType(item)))
			}
		}
		w.path[last].index = -1
	case nil:
		w.add(false, "structure", w.name()+" is null; omit it instead")
	default:
		w.add(false, "structure", "the extensions of "+w.name()+" must be an object, not "+article(jsonType(v)))
	}
}

// primitiveShape checks a value the tables do not type for the emptiness
// rules of FHIR JSON: no empty strings or arrays, no nulls.
func (w *walker) primitiveShape(v any) {
	switch v := v.(type) {
	case nil:
		w.add(false, "structure", w.name()+" is null; omit it instead")
	case string:
		if v == "" {
			w.add(false, "value", w.name()+" is an empty string; omit it instead")
		}
	case []any:
		if len(v) == 0 {
			w.add(false, "structure", w.name()+" is an empty array; omit it instead")
			return
		}
		last := len(w.path) - 1
		for i, item := range v {
			if s, ok := item.(string); ok && s == "" {
				w.path[last].index = i
				w.add(false, "value", w.name()+" is an empty string; omit it instead")
			}
		}
		w.path[last].index = -1
	case map[string]any:
		if len(v) == 0 {
			w.add(false, "structure", w.name()+" is an empty object; omit it instead")
		}
	}
}

// reference checks that a literal reference (Type/id, or an absolute URL
// ending in Type/id, optionally with /_history/vid) names an allowed target
// type. Contained (#id), urn: and other references are not checked here.
func (w *walker) reference(ref map[string]any, targets []string) {
	s, ok := ref["reference"].(string)
	if !ok || s == "" || s[0] == '#' || strings.HasPrefix(s, "urn:") {
		return
	}
	rt, ok := referenceType(s)
	if !ok {
		return
	}
	w.push("reference", -1)
	defer w.pop()
	if w.m.schemas[rt] == nil {
		if !strings.Contains(s, "://") {
			w.add(false, "invalid", "reference is not to a FHIR R4 resource type")
		}
		return
	}
	if targets == nil {
		return
	}
	for _, t := range targets {
		if t == rt {
			return
		}
	}
	w.add(false, "invalid", w.path[len(w.path)-2].name+" may not refer to "+article(rt)+" (allowed: "+strings.Join(targets, ", ")+")")
}

// referenceType extracts Type from [base/]Type/id[/_history/vid] when the
// shape fits: Type a capitalised name, id a valid id.
func referenceType(s string) (string, bool) {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, "/")
	n := len(parts)
	if n >= 4 && parts[n-2] == "_history" {
		parts = parts[:n-2]
		n -= 2
	}
	if n < 2 {
		return "", false
	}
	t, id := parts[n-2], parts[n-1]
	if !matchID(id) || t == "" || t[0] < 'A' || t[0] > 'Z' || !elementName(t) || strings.Contains(t, "_") {
		return "", false
	}
	if n > 2 && !strings.Contains(s, "://") {
		return "", false // a relative path that is not Type/id
	}
	return t, true
}
