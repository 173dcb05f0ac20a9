package policy_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/policy"
)

// enrolEnv is the environment of a rule like "members.enrol".
var enrolEnv = mustEnv(
	policy.Var{Name: "signer", Type: policy.Map, Doc: "the member signing the transaction"},
	policy.Var{Name: "request", Type: policy.Map, Doc: "the transaction's payload"},
	policy.Var{Name: "block", Type: policy.Map, Doc: "height and time of the block"},
)

// scalarEnv declares one input of each scalar type.
var scalarEnv = mustEnv(
	policy.Var{Name: "s", Type: policy.String},
	policy.Var{Name: "n", Type: policy.Int},
	policy.Var{Name: "b", Type: policy.Bool},
	policy.Var{Name: "t", Type: policy.Timestamp},
	policy.Var{Name: "l", Type: policy.StringList},
)

func mustEnv(vars ...policy.Var) *policy.Env {
	env, err := policy.NewEnv(vars...)
	if err != nil {
		panic(err)
	}
	return env
}

var blockTime = time.Date(2026, 3, 14, 12, 30, 0, 0, time.UTC)

// enrolInput returns fresh inputs for enrolEnv; tests may modify them.
func enrolInput() map[string]any {
	return map[string]any{
		"signer": map[string]any{
			"id":     "m-1",
			"name":   "Jane Q. Patient",
			"org":    "stmary",
			"active": true,
			"roles":  []string{"admin", "practitioner"},
			"age":    42, // a Go int
		},
		"request": map[string]any{
			"org":    "stmary",
			"role":   "researcher",
			"count":  int64(3),
			"note":   "Enrol for Trial X",
			"attrs":  map[string]any{"c": 3, "a": 1, "b": 2},
			"items":  []any{map[string]any{"qty": 2}, map[string]any{"qty": int64(5)}},
			"groups": map[string]any{"stmary": map[string]any{"z": true, "y": false, "x": true}},
			"tags":   []any{"urgent", "pediatric"},
			"when":   blockTime.Add(-time.Hour),
		},
		"block": map[string]any{
			"height": int64(1234),
			"time":   blockTime,
		},
	}
}

func scalarInput() map[string]any {
	return map[string]any{
		"s": "hello",
		"n": 7,
		"b": true,
		"t": blockTime,
		"l": []any{"x", "y"},
	}
}

// typicalRule is the shape of most access rules.
const typicalRule = `signer.active && "admin" in signer.roles && signer.org == request.org`

var evalTests = []struct {
	name string
	env  *policy.Env
	expr string
	want bool
}{
	{"typical", enrolEnv, typicalRule, true},
	{"typical wrong role", enrolEnv, `signer.active && "auditor" in signer.roles`, false},
	{"typical other org", enrolEnv, `signer.org == "stgeorge"`, false},
	{"dyn result", enrolEnv, `signer.active`, true},
	{"go int input", enrolEnv, `signer.age >= 18 && signer.age == 42`, true},
	{"int64 input", enrolEnv, `request.count + 1 == 4`, true},
	{"size of list", enrolEnv, `size(signer.roles) == 2`, true},
	{"timestamp compare", enrolEnv, `block.time > timestamp("2026-01-01T00:00:00Z")`, true},
	{"timestamp compare false", enrolEnv, `block.time > timestamp("2027-01-01T00:00:00Z")`, false},
	{"timestamp arithmetic", enrolEnv, `block.time - request.when == duration("1h")`, true},
	{"timestamp accessor utc", enrolEnv, `block.time.getHours() == 12`, true},
	{"timestamp accessor offset", enrolEnv, `block.time.getHours("+02:00") == 14`, true},
	{"timestamp accessor UTC name", enrolEnv, `block.time.getMinutes("UTC") == 30`, true},
	{"timestamp to string is UTC", enrolEnv, `string(block.time) == "2026-03-14T12:30:00Z"`, true},
	{"has", enrolEnv, `has(request.attrs.a) && !has(request.attrs.zz)`, true},
	{"in map", enrolEnv, `"b" in request.attrs`, true},
	{"all over list of maps", enrolEnv, `request.items.all(i, i.qty > 0)`, true},
	{"exists over list", enrolEnv, `request.items.exists(i, i.qty > 4)`, true},
	{"exists_one over map", enrolEnv, `request.attrs.exists_one(k, request.attrs[k] == 2)`, true},
	{"all over map", enrolEnv, `request.attrs.all(k, request.attrs[k] < 3)`, false},
	{"map over map is sorted", enrolEnv, `request.attrs.map(k, k) == ["a", "b", "c"]`, true},
	{"filter over map is sorted", enrolEnv, `request.attrs.filter(k, request.attrs[k] != 2) == ["a", "c"]`, true},
	{"map over computed index", enrolEnv, `request.groups[signer.org].filter(k, request.groups[signer.org][k]) == ["x", "z"]`, true},
	{"map over literal map", enrolEnv, `{"b": 1, "c": 2, "a": 3}.map(k, k)[0] == "a"`, true},
	{"map over int keys", enrolEnv, `{3: 1, 1: 2, 2: 3}.map(k, k) == [1, 2, 3]`, true},
	{"ternary range", enrolEnv, `(signer.active ? request.attrs : {}).map(k, k)[2] == "c"`, true},
	{"nested []any", enrolEnv, `"urgent" in request.tags`, true},
	{"strings ext", enrolEnv, `request.note.lowerAscii().contains("trial") && request.note.split(" ").size() == 4`, true},
	{"strings ext join", enrolEnv, `request.attrs.map(k, k).join("-") == "a-b-c"`, true},
	{"strings ext format", enrolEnv, `"%s/%d".format([signer.org, signer.age]) == "stmary/42"`, true},
	{"matches", enrolEnv, `signer.id.matches("^m-[0-9]+$")`, true},
	{"multi-line", enrolEnv, "signer.active &&\n  signer.org == request.org", true},
	{"scalar all", scalarEnv, `s == "hello" && n == 7 && b && t == timestamp("2026-03-14T12:30:00Z") && l == ["x", "y"]`, true},
	{"scalar false", scalarEnv, `n > 7 || !b`, false},
}

func TestEval(t *testing.T) {
	e := policy.NewEngine(policy.Options{})
	for _, tt := range evalTests {
		t.Run(tt.name, func(t *testing.T) {
			in := enrolInput()
			if tt.env == scalarEnv {
				in = scalarInput()
			}
			if err := e.Check(tt.env, tt.expr); err != nil {
				t.Fatalf("Check(%q) = %v; want nil", tt.expr, err)
			}
			got, err := e.Eval(tt.env, tt.expr, in)
			if err != nil || got != tt.want {
				t.Errorf("Eval(%q) = %v, %v; want %v, nil", tt.expr, got, err, tt.want)
			}
		})
	}
}

var checkTests = []struct {
	name string
	expr string
	// want lists, in order, each issue as "line:column: substring of message".
	want []string
}{
	{"non-bool", `1 + 2`, []string{"1:3: rule has type int; it must be bool"}},
	{"string result", `signer.org + "x"`, []string{"1:12: rule has type string; it must be bool"}},
	{"undeclared", `patient.name == "x"`, []string{"1:1: undeclared reference to 'patient'"}},
	{"two undeclared", "signer.active &&\n  foo && bar", []string{"2:3: undeclared reference to 'foo'", "2:10: undeclared reference to 'bar'"}},
	{"syntax", `signer.active &&`, []string{"1:17: Syntax error"}},
	{"syntax unclosed", `("a" == "a"`, []string{"1:12: Syntax error"}},
	{"empty", ``, []string{"1:1: Syntax error"}},
	{"no clock", `now() > block.time`, []string{"1:4: undeclared reference to 'now'"}},
	{"unknown function", `signer.org.reverse2() == "x"`, []string{"1:20: undeclared reference to 'reverse2'"}},
	{"wrong arg types", `size(1) == 1`, []string{"1:5: found no matching overload for 'size'"}},
	{"bad timestamp literal", `block.time > timestamp("2026-13-01")`, []string{"1:24: invalid timestamp"}},
	{"bad regex literal", `signer.id.matches("(")`, []string{"1:19: invalid matches argument"}},
	{"time zone name", `block.time.getHours("Europe/Berlin") == 9`, []string{`1:21: getHours: the time zone must be "UTC" or a fixed offset`}},
	{"time zone Local", `block.time.getDayOfWeek("Local") == 1`, []string{`1:25: getDayOfWeek: the time zone must be`}},
	{"time zone computed", `block.time.getHours(request.tz) == 9`, []string{`1:28: getHours: the time zone must be`}},
	{"message construction", `google.protobuf.Struct{fields: {}} != google.protobuf.Struct{}`, []string{"1:23: rules may not construct messages", "1:61: rules may not construct messages"}},
	{"too deep", strings.Repeat(`{"a": `, 40) + "1" + strings.Repeat("}", 40) + " == {}", []string{"0:0: expression recursion limit exceeded: 32"}},
	{"too long", `signer.org == "` + strings.Repeat("x", 5000) + `"`, []string{"0:0: rule is 5016 bytes long; the limit is 4096"}},
}

func TestCheckErrors(t *testing.T) {
	e := policy.NewEngine(policy.Options{})
	for _, tt := range checkTests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.Check(enrolEnv, tt.expr)
			var ce *policy.CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("Check(%q) = %v; want *CheckError", tt.expr, err)
			}
			if len(ce.Issues) != len(tt.want) {
				t.Fatalf("Check(%q) issues = %q; want %q", tt.expr, ce.Issues, tt.want)
			}
			for i, is := range ce.Issues {
				got := fmt.Sprintf("%d:%d: %s", is.Line, is.Column, is.Message)
				if !strings.HasPrefix(got, tt.want[i]) {
					t.Errorf("Check(%q) issue %d = %q; want prefix %q", tt.expr, i, got, tt.want[i])
				}
			}
			if !strings.HasPrefix(err.Error(), "policy: invalid rule: ") {
				t.Errorf("Check(%q) error = %q; want prefix %q", tt.expr, err, "policy: invalid rule: ")
			}
			// Eval reports the same error and does not run the rule.
			if _, evalErr := e.Eval(enrolEnv, tt.expr, enrolInput()); evalErr == nil || evalErr.Error() != err.Error() {
				t.Errorf("Eval(%q) error = %v; want %v", tt.expr, evalErr, err)
			}
		})
	}
}

func TestMaxExprLen(t *testing.T) {
	e := policy.NewEngine(policy.Options{MaxExprLen: 10})
	if err := e.Check(scalarEnv, `b && b && b`); err == nil { // 11 bytes
		t.Errorf("Check(11 bytes) with MaxExprLen 10 = nil; want error")
	}
	if err := e.Check(scalarEnv, `b && n > 1`); err != nil { // 10 bytes
		t.Errorf("Check(10 bytes) with MaxExprLen 10 = %v; want nil", err)
	}
}

func TestEvalInputErrors(t *testing.T) {
	e := policy.NewEngine(policy.Options{})
	tests := []struct {
		name   string
		env    *policy.Env
		modify func(in map[string]any)
		want   string
	}{
		{"missing", enrolEnv, func(in map[string]any) { delete(in, "request") }, `policy: missing input "request"`},
		{"missing two", enrolEnv, func(in map[string]any) { delete(in, "request"); delete(in, "block") },
			`policy: missing input "request"; missing input "block"`},
		{"undeclared", enrolEnv, func(in map[string]any) { in["patient"] = "x"; in["aaa"] = 1 },
			`policy: undeclared input "aaa"; undeclared input "patient"`},
		{"wrong top type", enrolEnv, func(in map[string]any) { in["signer"] = "m-1" },
			`policy: input "signer" is string, want map(string, dyn)`},
		{"nil", enrolEnv, func(in map[string]any) { in["signer"] = nil }, `policy: input "signer" is nil, want map(string, dyn)`},
		{"float nested", enrolEnv, func(in map[string]any) { in["request"].(map[string]any)["score"] = 0.5 },
			`policy: input "request" holds unsupported float64`},
		{"uint nested", enrolEnv, func(in map[string]any) { in["request"].(map[string]any)["n"] = uint(1) },
			`policy: input "request" holds unsupported uint`},
		{"struct nested", enrolEnv, func(in map[string]any) { in["block"].(map[string]any)["x"] = []any{struct{}{}} },
			`policy: input "block" holds unsupported struct {}`},
		{"typed map nested", enrolEnv, func(in map[string]any) { in["block"].(map[string]any)["x"] = map[string]string{} },
			`policy: input "block" holds unsupported map[string]string`},
		{"string want int", scalarEnv, func(in map[string]any) { in["n"] = "7" }, `policy: input "n" is string, want int`},
		{"int want bool", scalarEnv, func(in map[string]any) { in["b"] = 1 }, `policy: input "b" is int, want bool`},
		{"string want timestamp", scalarEnv, func(in map[string]any) { in["t"] = "2026-01-01T00:00:00Z" },
			`policy: input "t" is string, want timestamp`},
		{"list element", scalarEnv, func(in map[string]any) { in["l"] = []any{"a", 2} },
			`policy: input "l" element 1 is int, want string`},
		{"int list", scalarEnv, func(in map[string]any) { in["l"] = []int{1} },
			`policy: input "l" is []int, want list(string)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := enrolInput()
			if tt.env == scalarEnv {
				in = scalarInput()
			}
			tt.modify(in)
			got, err := e.Eval(tt.env, `true`, in)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Eval(true) = %v, %v; want false, %q", got, err, tt.want)
			}
		})
	}
}

func TestInputCycle(t *testing.T) {
	e := policy.NewEngine(policy.Options{})
	in := enrolInput()
	m := in["request"].(map[string]any)
	m["self"] = m
	if _, err := e.Eval(enrolEnv, `true`, in); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Errorf("Eval with a cyclic input = %v; want nesting error", err)
	}
}

func TestTimestampInputsAreUTC(t *testing.T) {
	e := policy.NewEngine(policy.Options{})
	in := scalarInput()
	in["t"] = blockTime.In(time.FixedZone("CET", 3600))
	const expr = `string(t) == "2026-03-14T12:30:00Z" && t.getHours() == 12`
	if got, err := e.Eval(scalarEnv, expr, in); err != nil || !got {
		t.Errorf("Eval(%q) = %v, %v; want true, nil", expr, got, err)
	}
}

func TestEvalRuntimeErrors(t *testing.T) {
	e := policy.NewEngine(policy.Options{})
	tests := []struct {
		name string
		expr string
		want string // EvalError text
	}{
		{"missing key", `request.nokey == "x"`, "policy: rule failed at 1:8: no such key"},
		{"missing key via index", `request.attrs[signer.name] == 1`, "policy: rule failed at 1:14: no such key"},
		{"not bool", `request.count`, "policy: rule failed: rule yielded int, not bool"},
		{"not bool string", "request.note", "policy: rule failed: rule yielded string, not bool"},
		{"division by zero", `request.count / (request.count - 3) > 0`, "policy: rule failed at 1:15: division by zero"},
		{"overflow", `request.count * 9223372036854775807 > 0`, "policy: rule failed at 1:15: integer overflow"},
		{"bad conversion", `int(signer.name) > 0`, "policy: rule failed at 1:4: type conversion error"},
		{"wrong dyn type", `signer.name > 3`, "policy: rule failed at 1:13: no such overload"},
		{"index out of range", `signer.roles[5] == "x"`, "policy: rule failed at 1:13: index out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := e.Check(enrolEnv, tt.expr); err != nil {
				t.Fatalf("Check(%q) = %v; want nil", tt.expr, err)
			}
			got, err := e.Eval(enrolEnv, tt.expr, enrolInput())
			var ee *policy.EvalError
			if got || !errors.As(err, &ee) {
				t.Fatalf("Eval(%q) = %v, %v; want false, *EvalError", tt.expr, got, err)
			}
			if err.Error() != tt.want {
				t.Errorf("Eval(%q) error = %q; want %q", tt.expr, err, tt.want)
			}
			// Input values (here, the signer's name) never reach the
			// error text, though cel-go's underlying error may quote them.
			if strings.Contains(err.Error(), "Jane") {
				t.Errorf("Eval(%q) error %q quotes an input value", tt.expr, err)
			}
		})
	}
}

func TestCostLimit(t *testing.T) {
	e := policy.NewEngine(policy.Options{})
	big := make([]any, 1000)
	for i := range big {
		big[i] = i
	}
	in := enrolInput()
	in["request"].(map[string]any)["big"] = big
	tests := []struct {
		name string
		expr string
	}{
		{"nested comprehensions", `request.big.all(x, request.big.all(y, request.big.all(z, x + y + z >= 0)))`},
		{"quadratic", `request.big.exists(x, request.big.exists(y, x + y < 0))`},
		{"growing strings", `request.big.map(x, request.big.map(y, "%d-%d".format([x, y]))).size() > 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got, err := e.Eval(enrolEnv, tt.expr, in)
			if got || !errors.Is(err, policy.ErrCostLimit) {
				t.Errorf("Eval(%q) = %v, %v; want false, ErrCostLimit", tt.expr, got, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Eval(%q) took %v; the cost limit should stop it in milliseconds", tt.expr, d)
			}
		})
	}
	// The same rule fits under a higher limit.
	const cheap = `request.big.all(x, x >= 0)`
	if _, err := e.Eval(enrolEnv, cheap, in); err != nil {
		t.Errorf("Eval(%q) = %v; want nil", cheap, err)
	}
	low := policy.NewEngine(policy.Options{CostLimit: 100})
	if _, err := low.Eval(enrolEnv, cheap, in); !errors.Is(err, policy.ErrCostLimit) {
		t.Errorf("Eval(%q) with CostLimit 100 = %v; want ErrCostLimit", cheap, err)
	}
}

// TestDeterministicIteration runs order-sensitive rules over maps many
// times: with Go's randomised map iteration, each would differ between runs
// unless the package fixes the order.
func TestDeterministicIteration(t *testing.T) {
	e := policy.NewEngine(policy.Options{})
	attrs := make(map[string]any)
	var keys []string
	for i := range 40 {
		k := fmt.Sprintf("k%02d", i)
		attrs[k] = i
		keys = append(keys, k)
	}
	in := enrolInput()
	in["request"].(map[string]any)["attrs"] = attrs
	in["request"].(map[string]any)["groups"] = map[string]any{"stmary": attrs}
	rules := []string{
		`request.attrs.map(k, k).join(",") == "` + strings.Join(keys, ",") + `"`,
		`request.groups[signer.org].map(k, k).join(",") == "` + strings.Join(keys, ",") + `"`,
		`{"k": 1, "j": 2, "i": 3, "h": 4, "g": 5, "f": 6, "e": 7, "d": 8}.map(k, k)[0] == "d"`,
		`{true: 1, false: 2}.map(k, k) == [false, true]`,
	}
	for _, rule := range rules {
		for range 50 {
			if got, err := e.Eval(enrolEnv, rule, in); err != nil || !got {
				t.Fatalf("Eval(%q) = %v, %v; want true, nil", rule, got, err)
			}
		}
	}
	// When several elements fail, the same one is reported every time.
	const failing = `request.attrs.exists(k, request.attrs[k + "x"] > 0)`
	var first string
	for i := range 50 {
		_, err := e.Eval(enrolEnv, failing, in)
		if err == nil {
			t.Fatalf("Eval(%q) = nil error; want an error", failing)
		}
		detail := errors.Unwrap(err).Error()
		if i == 0 {
			first = detail
			if !strings.Contains(first, "k00x") {
				t.Errorf("Eval(%q) failed on %q; want the least key, k00", failing, first)
			}
		} else if detail != first {
			t.Fatalf("Eval(%q) failed with %q, earlier with %q", failing, detail, first)
		}
	}
}

func TestNewEnvErrors(t *testing.T) {
	_, err := policy.NewEnv(
		policy.Var{Name: "ok", Type: policy.String},
		policy.Var{Name: "9lives", Type: policy.String},
		policy.Var{Name: "in", Type: policy.Bool},
		policy.Var{Name: "ok", Type: policy.Int},
		policy.Var{Name: "notype"},
		policy.Var{Name: "a.b", Type: policy.Type(99)},
	)
	if err == nil {
		t.Fatal("NewEnv(bad vars) = nil error")
	}
	for _, want := range []string{
		`var 1: name "9lives" is not a CEL identifier`,
		`var 2: name "in" is reserved`,
		`var 3: name "ok" declared twice`,
		`var 4 ("notype"): invalid Type(0)`,
		`var 5: name "a.b" is not a CEL identifier`,
		`var 5 ("a.b"): invalid Type(99)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("NewEnv error %q does not contain %q", err, want)
		}
	}
	env := mustEnv(policy.Var{Name: "x", Type: policy.StringList, Doc: "doc"})
	vars := env.Vars()
	vars[0].Name = "changed"
	if got := env.Vars()[0]; got != (policy.Var{Name: "x", Type: policy.StringList, Doc: "doc"}) {
		t.Errorf("Vars()[0] = %+v after modifying a copy", got)
	}
}

func TestEnvNotFromNewEnv(t *testing.T) {
	e := policy.NewEngine(policy.Options{})
	if err := e.Check(&policy.Env{}, `true`); err == nil {
		t.Error("Check(&Env{}) = nil; want error")
	}
	if _, err := e.Eval(nil, `true`, nil); err == nil {
		t.Error("Eval(nil Env) = nil error; want error")
	}
}

// TestConcurrentEval runs rules from many goroutines through an engine
// whose cache is smaller than the set of rules, so lookups, compilations and
// evictions race; run with -race.
func TestConcurrentEval(t *testing.T) {
	e := policy.NewEngine(policy.Options{CacheSize: 3})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				tt := evalTests[(g+i)%len(evalTests)]
				in := enrolInput()
				if tt.env == scalarEnv {
					in = scalarInput()
				}
				got, err := e.Eval(tt.env, tt.expr, in)
				if err != nil || got != tt.want {
					t.Errorf("Eval(%q) = %v, %v; want %v, nil", tt.expr, got, err, tt.want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzCheckEval(f *testing.F) {
	for _, tt := range evalTests {
		f.Add(tt.expr)
	}
	for _, tt := range checkTests {
		if len(tt.expr) < 200 {
			f.Add(tt.expr)
		}
	}
	f.Add(`request.attrs.all(k, request.attrs.exists(j, j + k == ""))`)
	f.Add(`[1, 2, 3].map(x, [x, x].map(y, y * x)).size() == 3`)
	f.Add(`"\xff" == signer.name`)
	f.Add(`((((((((((((((((((((((((((((((((((((((((true))))))))))))))))))))))))))))))))))))))))`)
	e := policy.NewEngine(policy.Options{CacheSize: 64})
	f.Fuzz(func(t *testing.T, expr string) {
		err := e.Check(enrolEnv, expr)
		var ce *policy.CheckError
		if err != nil {
			if !errors.As(err, &ce) || len(ce.Issues) == 0 {
				t.Fatalf("Check(%q) = %v; want a *CheckError with issues", expr, err)
			}
			// Failed checks are not cached, so this checks again.
			if err2 := e.Check(enrolEnv, expr); fmt.Sprint(err2) != err.Error() {
				t.Fatalf("Check(%q) = %v, then %v; want the same twice", expr, err, err2)
			}
			return
		}
		got1, err1 := e.Eval(enrolEnv, expr, enrolInput())
		got2, err2 := e.Eval(enrolEnv, expr, enrolInput())
		if got1 != got2 || fmt.Sprint(err1) != fmt.Sprint(err2) {
			t.Fatalf("Eval(%q) = %v, %v then %v, %v; want the same twice", expr, got1, err1, got2, err2)
		}
		var ee *policy.EvalError
		if err1 != nil && !errors.As(err1, &ee) && !errors.Is(err1, policy.ErrCostLimit) {
			t.Fatalf("Eval(%q) = %v; want an *EvalError or ErrCostLimit", expr, err1)
		}
		if err1 != nil && strings.Contains(err1.Error(), "Jane") {
			t.Fatalf("Eval(%q) error %q quotes an input value", expr, err1)
		}
	})
}

func BenchmarkEval(b *testing.B) {
	e := policy.NewEngine(policy.Options{})
	in := map[string]any{
		"signer": map[string]any{
			"id":     "m-1",
			"org":    "stmary",
			"active": true,
			"roles":  []string{"practitioner", "admin"},
		},
		"request": map[string]any{"org": "stmary", "role": "researcher"},
		"block":   map[string]any{"height": int64(1234), "time": blockTime},
	}
	if ok, err := e.Eval(enrolEnv, typicalRule, in); err != nil || !ok {
		b.Fatalf("Eval(%q) = %v, %v; want true, nil", typicalRule, ok, err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.Eval(enrolEnv, typicalRule, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := e.Eval(enrolEnv, typicalRule, in); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
