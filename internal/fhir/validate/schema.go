package validate

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	schemakind "github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// schemaJSON is the official FHIR R4 JSON schema, patched and reduced by
// gen (see its doc).
//
//go:embed fhir.schema.json
var schemaJSON []byte

const schemaURL = "fhir.schema.json"

// compileSchemas compiles the definition of every resource type in structs.
func compileSchemas(structs map[string]*structType) (map[string]*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft6)
	c.UseRegexpEngine(compileRegexp)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	schemas := map[string]*jsonschema.Schema{}
	for name, st := range structs {
		if !st.resource || name == "Resource" || name == "DomainResource" {
			continue
		}
		s, err := c.Compile(schemaURL + "#/definitions/" + name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		schemas[name] = s
	}
	return schemas, nil
}

// checkSchema validates one resource object (nested resources are checked
// separately: the reduced schema's ResourceList accepts any object) and
// records the errors at the walker's current path.
func (w *walker) checkSchema(obj map[string]any, rt string) {
	err := w.m.schemas[rt].Validate(obj)
	if err == nil {
		return
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		w.add(true, "invalid", "the resource could not be checked against the schema")
		return
	}
	w.schemaErrors(obj, ve)
}

func (w *walker) schemaErrors(obj map[string]any, ve *jsonschema.ValidationError) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			w.schemaErrors(obj, c)
		}
		return
	}
	depth := len(w.path)
	defer func() { w.path = w.path[:depth] }()
	w.descend(obj, ve.InstanceLocation)

	switch k := ve.ErrorKind.(type) {
	case *schemakind.Required:
		for _, m := range k.Missing {
			w.push(m, -1)
			w.add(true, "required", m+" is required")
			w.pop()
		}
	case *schemakind.AdditionalProperties:
		for _, p := range k.Properties {
			if elementName(p) {
				w.push(p, -1)
				w.add(true, "structure", "unknown element "+p)
			} else {
				w.add(true, "structure", "unknown element (its name is not a valid element name)")
				continue
			}
			w.pop()
		}
	case *schemakind.Type:
		w.add(true, "structure", fmt.Sprintf("%s must be %s, not %s", w.name(), jsonTypes(k.Want), article(k.Got)))
	case *schemakind.Pattern:
		d, ok := patterns[k.Want]
		if !ok {
			d = "is not valid"
		}
		w.add(true, "value", w.name()+" "+d)
	case *schemakind.Enum:
		w.add(true, "code-invalid", w.name()+" must be one of "+enumList(k.Want))
	case *schemakind.Const:
		w.add(true, "invalid", w.name()+" must be "+enumList([]any{k.Want}))
	default:
		w.add(true, "structure", w.name()+" is not valid")
	}
}

// descend pushes the path segments of a schema instance location relative
// to obj: properties by name (a primitive's _name extension shown as name)
// and array items as indexes.
func (w *walker) descend(obj map[string]any, loc []string) {
	var cur any = obj
	for _, tok := range loc {
		switch c := cur.(type) {
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return
			}
			w.path[len(w.path)-1].index = i
			cur = c[i]
		case map[string]any:
			cur = c[tok]
			if n, ok := strings.CutPrefix(tok, "_"); ok && n != "" {
				tok = n
			}
			if !elementName(tok) {
				tok = "(invalid element name)"
			}
			w.push(tok, -1)
		default:
			return
		}
	}
}

// elementName reports whether s looks like a FHIR element name, so it can
// be named in a diagnostic without echoing arbitrary content.
func elementName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func jsonTypes(want []string) string {
	as := make([]string, len(want))
	for i, t := range want {
		as[i] = article(t)
	}
	return strings.Join(as, " or ")
}

// article prefixes a JSON or FHIR type name with "a" or "an".
func article(t string) string {
	switch {
	case t == "null":
		return t
	case t != "" && strings.ContainsRune("AEIOUaeiou", rune(t[0])):
		return "an " + t
	default:
		return "a " + t
	}
}

// enumList renders the schema's allowed codes (schema content, never
// resource content).
func enumList(vs []any) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%v", v)
	}
	return b.String()
}
