package policy

import (
	"errors"
	"fmt"
	"strings"
)

// ErrCostLimit is wrapped by the error [Engine.Eval] returns when a rule
// exceeds the engine's cost limit. Cost counts CEL operations, so a rule that
// hits the limit does so on every node.
var ErrCostLimit = errors.New("policy: cost limit exceeded")

// CheckError is returned by [Engine.Check], and by [Engine.Eval] for a rule
// that does not check, to explain why a rule was rejected. Its text describes
// only the rule and is safe to show to the admin who submitted it.
type CheckError struct {
	Issues []Issue // at least one, ordered by position
}

// Issue is one problem with a rule.
type Issue struct {
	// Line and Column locate the problem in the rule, both counting from 1;
	// Column counts Unicode code points. They are 0 for a problem with the
	// rule as a whole, such as its length.
	Line, Column int
	Message      string
}

// String formats the issue as "line:column: message".
func (i Issue) String() string {
	if i.Line <= 0 {
		return i.Message
	}
	return fmt.Sprintf("%d:%d: %s", i.Line, i.Column, i.Message)
}

func (e *CheckError) Error() string {
	var b strings.Builder
	b.WriteString("policy: invalid rule: ")
	for i, is := range e.Issues {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(is.String())
	}
	return b.String()
}

// EvalError is returned by [Engine.Eval] when a rule that checked fails at
// run time: it reads a missing map key, calls a function on a value of the
// wrong type, divides by zero, or yields something other than a bool.
//
// Its Error text gives the position of the failing sub-expression and a
// fixed description, and never quotes input values, which may be personal
// health information; it is deterministic, so it may be recorded in a
// transaction result. The underlying cel-go error, whose text may quote
// input values, is available through Unwrap for local debugging only: never
// log it, store it or return it to a client.
type EvalError struct {
	// Line and Column locate the failing sub-expression as in Issue; they
	// are 0 when cel-go does not say which sub-expression failed.
	Line, Column int
	// Reason is a fixed description such as "no such key".
	Reason string
	// Err is the underlying cel-go error; nil when the rule evaluated to a
	// value that is not a bool.
	Err error
}

func (e *EvalError) Error() string {
	if e.Line <= 0 {
		return "policy: rule failed: " + e.Reason
	}
	return fmt.Sprintf("policy: rule failed at %d:%d: %s", e.Line, e.Column, e.Reason)
}

func (e *EvalError) Unwrap() error { return e.Err }

// safeReasons maps prefixes of cel-go run-time error messages to fixed
// descriptions that quote nothing from the inputs. Any other message is
// reported as "evaluation error".
var safeReasons = []struct{ prefix, reason string }{
	{"no such key", "no such key"},
	{"no such attribute", "no such attribute"},
	{"no such overload", "no such overload"},
	{"no matching overload", "no such overload"},
	{"no such field", "no such field"},
	{"division by zero", "division by zero"},
	{"modulus by zero", "modulus by zero"},
	{"integer overflow", "integer overflow"},
	{"unsigned integer overflow", "unsigned integer overflow"},
	{"duration overflow", "duration overflow"},
	{"timestamp overflow", "timestamp overflow"},
	{"index '", "index out of range"},
	{"index out of bounds", "index out of range"},
	{"type conversion error", "type conversion error"},
	{"invalid RFC 3339 timestamp", "invalid timestamp"},
	{"NaN values cannot be ordered", "NaN values cannot be ordered"},
	{"unsupported key type", "unsupported key type"},
}

// safeReason reduces a cel-go error message to a fixed description.
func safeReason(msg string) string {
	for _, r := range safeReasons {
		if strings.HasPrefix(msg, r.prefix) {
			return r.reason
		}
	}
	return "evaluation error"
}
