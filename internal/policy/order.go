package policy

import (
	"cmp"
	"fmt"
	"slices"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// cel-go iterates CEL maps in Go's randomised map order. For .all and
// .exists the boolean outcome does not depend on that order, but which error
// is reported when several elements fail, the cost charged before a
// short-circuit, and the result of .map and .filter over a map
// ({"a": 1, "b": 2}.map(k, k)[0]) do. So every value that a comprehension
// iterates over is wrapped, if it is a map, in sortedMap, whose iterator
// yields the keys in a fixed order. Only the comprehension's range is
// wrapped; elsewhere maps are used as they are.

// iterRanges returns the IDs of the expressions that comprehensions in a
// iterate over.
func iterRanges(a *ast.AST) map[int64]bool {
	ids := make(map[int64]bool)
	ast.PreOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() == ast.ComprehensionKind {
			ids[e.AsComprehension().IterRange().ID()] = true
		}
	}))
	return ids
}

// sortIterRanges returns a decorator that makes the values of the
// expressions ids iterate in sorted order.
func sortIterRanges(ids map[int64]bool) interpreter.InterpretableDecoratorV2 {
	return func(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
		if !ids[i.ID()] {
			return i, nil
		}
		// cel-go's planner also decorates the attribute it builds for a
		// computed index (a[b]) under the ID of the whole index expression,
		// and requires the result to remain an attribute.
		if attr, ok := i.(interpreter.InterpretableAttribute); ok {
			return &sortedAttr{InterpretableAttribute: attr}, nil
		}
		return &sortedRange{InterpretableV2: i}, nil
	}
}

// sortedRange evaluates a comprehension's range, wrapping a map result.
type sortedRange struct {
	interpreter.InterpretableV2
}

// Exec implements interpreter.InterpretableV2.
func (r *sortedRange) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	return sortMap(r.InterpretableV2.Exec(frame))
}

// Eval implements interpreter.Interpretable.
func (r *sortedRange) Eval(act interpreter.Activation) ref.Val {
	return sortMap(r.InterpretableV2.Eval(act))
}

// sortedAttr is sortedRange for attributes.
type sortedAttr struct {
	interpreter.InterpretableAttribute
}

// Exec implements interpreter.InterpretableV2.
func (r *sortedAttr) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	return sortMap(r.InterpretableAttribute.Exec(frame))
}

// Eval implements interpreter.Interpretable.
func (r *sortedAttr) Eval(act interpreter.Activation) ref.Val {
	return sortMap(r.InterpretableAttribute.Eval(act))
}

func sortMap(v ref.Val) ref.Val {
	if m, ok := v.(traits.Mapper); ok {
		return sortedMap{m}
	}
	return v
}

// sortedMap is a map whose iterator yields its keys in keyOrder. It
// deliberately does not implement traits.Foldable, which would let cel-go
// bypass Iterator.
type sortedMap struct {
	traits.Mapper
}

// Iterator implements traits.Iterable.
func (m sortedMap) Iterator() traits.Iterator {
	var keys []ref.Val
	for it := m.Mapper.Iterator(); it.HasNext() == types.True; {
		keys = append(keys, it.Next())
	}
	slices.SortFunc(keys, keyOrder)
	return types.NewRefValList(types.DefaultTypeAdapter, keys).Iterator()
}

// keyOrder orders CEL map keys: bools, then ints, then uints, then strings,
// each in their natural order. CEL allows no other key types; should one
// appear, it sorts last, by type name and then by its formatted value.
func keyOrder(a, b ref.Val) int {
	if c := cmp.Compare(keyRank(a), keyRank(b)); c != 0 {
		return c
	}
	switch x := a.(type) {
	case types.Bool:
		return cmp.Compare(boolInt(bool(x)), boolInt(bool(b.(types.Bool))))
	case types.Int:
		return cmp.Compare(x, b.(types.Int))
	case types.Uint:
		return cmp.Compare(x, b.(types.Uint))
	case types.String:
		return cmp.Compare(x, b.(types.String))
	}
	if c := cmp.Compare(a.Type().TypeName(), b.Type().TypeName()); c != 0 {
		return c
	}
	return cmp.Compare(fmt.Sprint(a.Value()), fmt.Sprint(b.Value()))
}

func keyRank(v ref.Val) int {
	switch v.(type) {
	case types.Bool:
		return 0
	case types.Int:
		return 1
	case types.Uint:
		return 2
	case types.String:
		return 3
	}
	return 4
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
