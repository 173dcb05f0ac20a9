package policy

import (
	"errors"
	"fmt"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"
)

// Type is the type of a rule input. The set is small and fixed on purpose:
// contracts hand rules plain data, never Go structs or protobuf messages.
type Type int

// Input types. The zero Type is invalid, so a Var must name its type.
const (
	_ Type = iota
	// String is a CEL string; the input is a Go string.
	String
	// Int is a CEL int; the input is any Go signed integer (int, int64, ...).
	Int
	// Bool is a CEL bool; the input is a Go bool.
	Bool
	// Timestamp is a CEL timestamp; the input is a time.Time, converted to
	// UTC.
	Timestamp
	// StringList is a CEL list(string); the input is a []string, or a []any
	// holding only strings.
	StringList
	// Map is a CEL map(string, dyn); the input is a map[string]any whose
	// values are, recursively, string, any Go signed integer, bool, []string,
	// []any, map[string]any or time.Time. Floats, nil, unsigned integers and
	// other types are rejected, so that every rule sees the same plain data.
	Map
)

var typeNames = [...]string{
	String:     "string",
	Int:        "int",
	Bool:       "bool",
	Timestamp:  "timestamp",
	StringList: "list(string)",
	Map:        "map(string, dyn)",
}

// String returns the CEL spelling of t, such as "list(string)".
func (t Type) String() string {
	if t.valid() {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

func (t Type) valid() bool { return t >= String && t <= Map }

func (t Type) cel() *cel.Type {
	switch t {
	case String:
		return cel.StringType
	case Int:
		return cel.IntType
	case Bool:
		return cel.BoolType
	case Timestamp:
		return cel.TimestampType
	case StringList:
		return cel.ListType(cel.StringType)
	case Map:
		return cel.MapType(cel.StringType, cel.DynType)
	}
	panic(fmt.Sprintf("policy: invalid %v", t)) // unreachable: NewEnv validates types
}

// Var declares one input a rule may read.
type Var struct {
	// Name is how rules refer to the input: a CEL identifier such as
	// "signer" that is not a reserved word or a type name.
	Name string
	// Type is the input's type.
	Type Type
	// Doc describes the input for the admins who write rules.
	Doc string
}

// Env is a named set of declared inputs; for example the environment of the
// "members.enrol" rule declares signer, request and block. An Env is
// immutable and safe for concurrent use. Engines cache compiled rules per
// Env pointer, so build each Env once (typically in a package-level variable
// of the contract) rather than per transaction.
type Env struct {
	vars []Var // in declaration order
	cel  *cel.Env
}

// stringsVersion pins the cel-go strings extension to the version current in
// cel.dev/cel-go v0.33.2, so a cel-go upgrade cannot silently add functions
// (or change their costs) under rules already stored in the ledger.
const stringsVersion = 5

// maxNesting bounds how deeply a rule's expressions may nest. cel-go's
// default, 250, lets a 1 KB rule of nested map literals take seconds to
// type-check (the checker is roughly cubic in depth), on every node; at 32
// the worst case is milliseconds, and real rules nest far less.
const maxNesting = 32

// NewEnv returns an environment declaring vars. It reports every invalid,
// reserved or duplicate name and every invalid type at once.
func NewEnv(vars ...Var) (*Env, error) {
	var errs []error
	seen := make(map[string]bool, len(vars))
	opts := []cel.EnvOption{
		ext.Strings(ext.StringsVersion(stringsVersion)),
		// Both are cel-go's defaults; they are spelled out because
		// determinism depends on them.
		cel.DefaultUTCTimeZone(true),
		cel.StrictTimestampParsing(true),
		cel.ParserRecursionLimit(maxNesting),
		// Reject at Check, rather than at every Eval, literals that can
		// never work: timestamp("2026-13-01"), duration("1x"), "(".matches.
		cel.ASTValidators(
			cel.ValidateTimestampLiterals(),
			cel.ValidateDurationLiterals(),
			cel.ValidateRegexLiterals(),
		),
	}
	for i, v := range vars {
		switch {
		case !isIdent(v.Name):
			errs = append(errs, fmt.Errorf("var %d: name %q is not a CEL identifier", i, v.Name))
		case reserved[v.Name]:
			errs = append(errs, fmt.Errorf("var %d: name %q is reserved in CEL", i, v.Name))
		case seen[v.Name]:
			errs = append(errs, fmt.Errorf("var %d: name %q declared twice", i, v.Name))
		}
		seen[v.Name] = true
		if !v.Type.valid() {
			errs = append(errs, fmt.Errorf("var %d (%q): invalid %v", i, v.Name, v.Type))
			continue
		}
		opts = append(opts, cel.Variable(v.Name, v.Type.cel()))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("policy: new env: %w", errors.Join(errs...))
	}
	ce, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("policy: new env: %w", err)
	}
	return &Env{vars: append([]Var(nil), vars...), cel: ce}, nil
}

// Vars returns the declared inputs in declaration order. The caller owns
// the returned slice.
func (e *Env) Vars() []Var { return append([]Var(nil), e.vars...) }

// lookup returns the declared type of name.
func (e *Env) lookup(name string) (Type, bool) {
	// Envs declare a handful of inputs, so a scan beats a map.
	for _, v := range e.vars {
		if v.Name == name {
			return v.Type, true
		}
	}
	return 0, false
}

// isIdent reports whether s matches CEL's IDENTIFIER: [_a-zA-Z][_a-zA-Z0-9]*.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// reserved holds CEL's reserved words and the names of its built-in types,
// which a variable of the same name would shadow or collide with.
var reserved = map[string]bool{
	// Literals and operators.
	"true": true, "false": true, "null": true, "in": true,
	// Reserved for future use by the CEL spec.
	"as": true, "break": true, "const": true, "continue": true, "else": true,
	"for": true, "function": true, "if": true, "import": true, "let": true,
	"loop": true, "package": true, "namespace": true, "return": true,
	"var": true, "void": true, "while": true,
	// Type names.
	"int": true, "uint": true, "double": true, "bool": true, "string": true,
	"bytes": true, "list": true, "map": true, "null_type": true, "type": true,
	"dyn": true, "timestamp": true, "duration": true, "google": true,
}
