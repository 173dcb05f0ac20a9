package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// maxInputDepth bounds the nesting of input maps and lists. Inputs are
// built by contracts, not by users, but a cycle (a map containing itself)
// would otherwise recurse forever.
const maxInputDepth = 32

// activation holds one evaluation's inputs, already converted to CEL values,
// in the Env's declaration order.
type activation struct {
	env  *Env
	vals []ref.Val
}

var _ interpreter.Activation = (*activation)(nil)

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	for i, v := range a.env.vars {
		if v.Name == name {
			return a.vals[i], true
		}
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// newActivation converts in to CEL values, checking that it provides
// exactly the declared inputs with their declared types. Error messages
// name inputs and Go types but never quote values or map keys, which may be
// personal data.
func newActivation(env *Env, in map[string]any) (*activation, error) {
	a := &activation{env: env, vals: make([]ref.Val, len(env.vars))}
	var problems []string
	found := 0
	for i, v := range env.vars {
		x, ok := in[v.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("missing input %q", v.Name))
			continue
		}
		found++
		val, err := convertTop(v.Type, x)
		if err != nil {
			problems = append(problems, fmt.Sprintf("input %q %v", v.Name, err))
			continue
		}
		a.vals[i] = val
	}
	if len(in) > found {
		// Sorted so that the message is the same on every node.
		var extra []string
		for name := range in {
			if _, ok := env.lookup(name); !ok {
				extra = append(extra, fmt.Sprintf("undeclared input %q", name))
			}
		}
		slices.Sort(extra)
		problems = append(problems, extra...)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("policy: %s", strings.Join(problems, "; "))
	}
	return a, nil
}

// convertTop converts an input declared as t.
func convertTop(t Type, x any) (ref.Val, error) {
	switch t {
	case String:
		if s, ok := x.(string); ok {
			return types.String(s), nil
		}
	case Int:
		if n, ok := asInt(x); ok {
			return types.Int(n), nil
		}
	case Bool:
		if b, ok := x.(bool); ok {
			return types.Bool(b), nil
		}
	case Timestamp:
		if tm, ok := x.(time.Time); ok {
			return types.Timestamp{Time: tm.UTC()}, nil
		}
	case StringList:
		switch l := x.(type) {
		case []string:
			return types.NewStringList(types.DefaultTypeAdapter, l), nil
		case []any:
			ss := make([]string, len(l))
			for i, e := range l {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("element %d is %s, want string", i, goType(e))
				}
				ss[i] = s
			}
			return types.NewStringList(types.DefaultTypeAdapter, ss), nil
		}
	case Map:
		if m, ok := x.(map[string]any); ok {
			return convertMap(m, 0)
		}
	}
	return nil, fmt.Errorf("is %s, want %v", goType(x), t)
}

// convert converts a value nested in a Map input.
func convert(x any, depth int) (ref.Val, error) {
	if depth > maxInputDepth {
		return nil, fmt.Errorf("nested more than %d deep", maxInputDepth)
	}
	switch v := x.(type) {
	case string:
		return types.String(v), nil
	case bool:
		return types.Bool(v), nil
	case time.Time:
		return types.Timestamp{Time: v.UTC()}, nil
	case []string:
		return types.NewStringList(types.DefaultTypeAdapter, v), nil
	case []any:
		vals := make([]ref.Val, len(v))
		for i, e := range v {
			val, err := convert(e, depth+1)
			if err != nil {
				return nil, err
			}
			vals[i] = val
		}
		return types.NewRefValList(types.DefaultTypeAdapter, vals), nil
	case map[string]any:
		return convertMap(v, depth+1)
	}
	if n, ok := asInt(x); ok {
		return types.Int(n), nil
	}
	return nil, fmt.Errorf("holds unsupported %s", goType(x))
}

func convertMap(m map[string]any, depth int) (ref.Val, error) {
	out := make(map[string]any, len(m))
	var (
		errKey string
		err    error
	)
	for k, x := range m {
		val, e := convert(x, depth)
		if e != nil {
			// Of several bad values, report the one under the least key,
			// so that the error is the same on every node.
			if err == nil || k < errKey {
				errKey, err = k, e
			}
			continue
		}
		out[k] = val
	}
	if err != nil {
		return nil, err
	}
	return types.NewStringInterfaceMap(types.DefaultTypeAdapter, out), nil
}

func asInt(x any) (int64, bool) {
	switch n := x.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case int16:
		return int64(n), true
	case int8:
		return int64(n), true
	}
	return 0, false
}

// goType names x's Go type, for error messages; it never formats x itself.
func goType(x any) string {
	if x == nil {
		return "nil"
	}
	return fmt.Sprintf("%T", x)
}
