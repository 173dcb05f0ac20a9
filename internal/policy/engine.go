package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

// Options configures an Engine. The zero value is a valid configuration.
//
// CostLimit and MaxExprLen decide which rules pass and which fail, so every
// node must use the same values for them (ideally constants, or values from
// the genesis document), or nodes will disagree.
type Options struct {
	// CostLimit bounds the cost of one evaluation, in cel-go's cost units
	// (roughly one per operation, more for operations on long strings and
	// lists). Zero means 10_000, ample for rules that do not iterate over
	// large inputs.
	CostLimit uint64
	// CacheSize is the number of compiled rules kept. Zero or negative means
	// 1024.
	CacheSize int
	// MaxExprLen is the longest rule, in bytes, that Check accepts. Zero or
	// negative means 4096.
	MaxExprLen int
}

// Defaults for Options.
const (
	DefaultCostLimit  = 10_000
	DefaultCacheSize  = 1024
	DefaultMaxExprLen = 4096
)

func (o Options) withDefaults() Options {
	if o.CostLimit == 0 {
		o.CostLimit = DefaultCostLimit
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MaxExprLen <= 0 {
		o.MaxExprLen = DefaultMaxExprLen
	}
	return o
}

// Engine checks and evaluates rules, caching compiled rules by Env and
// expression. It is safe for concurrent use. Create one with NewEngine; the
// zero Engine is not usable.
type Engine struct {
	opts Options // with defaults applied; read-only

	mu sync.RWMutex
	// cache holds compiled rules; when it is full, the oldest entry is
	// evicted (FIFO: a hit takes only the read lock).
	cache map[cacheKey]*program // +checklocks:mu
	// order lists cache's keys; next indexes the oldest once order is full.
	order []cacheKey // +checklocks:mu
	next  int        // +checklocks:mu
}

type cacheKey struct {
	env  *Env
	expr string
}

// program is a compiled rule. cel.Program is safe for concurrent use.
type program struct {
	prog cel.Program
	info *ast.SourceInfo
}

// NewEngine returns an Engine configured by o.
func NewEngine(o Options) *Engine {
	o = o.withDefaults()
	return &Engine{
		opts:  o,
		cache: make(map[cacheKey]*program),
		order: make([]cacheKey, 0, min(o.CacheSize, 64)),
	}
}

// Check parses and type-checks expr against env. A valid rule is at most
// MaxExprLen bytes long, nests at most 32 deep, reads only env's variables,
// calls only the standard CEL functions and the strings extension (pinned to
// the version in cel-go v0.33.2), constructs no protobuf messages,
// names no time zone other than "UTC" or a fixed offset such as "+01:00",
// and has type bool (or dyn, such as request.approved, in which case Eval
// checks for a bool at run time).
//
// An invalid rule yields a *CheckError listing every issue found with its
// position. Check caches the compiled rule for Eval.
func (e *Engine) Check(env *Env, expr string) error {
	_, err := e.compile(env, expr)
	return err
}

// Eval evaluates expr with the inputs in and returns its result. It checks
// expr first, as Check does, unless it is cached.
//
// in must hold exactly env's variables, each of its declared Type (see the
// Type constants for the Go values each accepts); Eval does not retain in.
// It returns an error, which callers must treat as a denial, if:
//   - expr does not check (a *CheckError);
//   - an input is missing, undeclared or of the wrong type;
//   - evaluation exceeds the cost limit (an error wrapping ErrCostLimit);
//   - evaluation fails, or yields something other than a bool (an
//     *EvalError).
//
// The result, the error text and the cost are deterministic: the same on
// every node for the same rule and inputs. No error text quotes an input
// value.
func (e *Engine) Eval(env *Env, expr string, in map[string]any) (bool, error) {
	p, err := e.compile(env, expr)
	if err != nil {
		return false, err
	}
	act, err := newActivation(env, in)
	if err != nil {
		return false, err
	}
	out, _, err := p.prog.Eval(act)
	if err != nil {
		return false, e.evalError(p, err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, &EvalError{Reason: fmt.Sprintf("rule yielded %s, not bool", out.Type().TypeName())}
	}
	return bool(b), nil
}

// Inputs are rule inputs converted once, for evaluating several rules of
// the same Env on the same inputs (see Prepare). They are immutable and
// safe for concurrent use.
type Inputs struct{ a *activation }

// Prepare checks and converts inputs for env as Eval does, so that
// EvalPrepared can evaluate many rules on them without converting them
// again. Its errors are Eval's input errors.
func (e *Engine) Prepare(env *Env, in map[string]any) (*Inputs, error) {
	if env == nil || env.cel == nil {
		return nil, errors.New("policy: Env not created by NewEnv")
	}
	act, err := newActivation(env, in)
	if err != nil {
		return nil, err
	}
	return &Inputs{a: act}, nil
}

// EvalPrepared is Eval on inputs prepared for the same env.
func (e *Engine) EvalPrepared(env *Env, expr string, in *Inputs) (bool, error) {
	if in == nil || in.a.env != env {
		return false, errors.New("policy: inputs prepared for another Env")
	}
	p, err := e.compile(env, expr)
	if err != nil {
		return false, err
	}
	out, _, err := p.prog.Eval(in.a)
	if err != nil {
		return false, e.evalError(p, err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, &EvalError{Reason: fmt.Sprintf("rule yielded %s, not bool", out.Type().TypeName())}
	}
	return bool(b), nil
}

func (e *Engine) evalError(p *program, err error) error {
	var cancelled interpreter.EvalCancelledError
	if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
		return fmt.Errorf("%w (limit %d)", ErrCostLimit, e.opts.CostLimit)
	}
	ee := &EvalError{Reason: "evaluation error", Err: err}
	var celErr *types.Err
	if errors.As(err, &celErr) {
		ee.Reason = safeReason(celErr.Error())
		ee.Line, ee.Column = position(p.info.GetStartLocation(celErr.NodeID()))
	}
	return ee
}

// compile returns the cached program for (env, expr), compiling and caching
// it on a miss.
func (e *Engine) compile(env *Env, expr string) (*program, error) {
	if env == nil || env.cel == nil {
		return nil, errors.New("policy: Env not created by NewEnv")
	}
	key := cacheKey{env, expr}
	e.mu.RLock()
	p := e.cache[key]
	e.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	p, err := e.build(env, expr)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if q := e.cache[key]; q != nil {
		return q, nil // another goroutine compiled it meanwhile
	}
	e.storeLocked(key, p)
	return p, nil
}

// +checklocks:e.mu
func (e *Engine) storeLocked(key cacheKey, p *program) {
	if len(e.order) < e.opts.CacheSize {
		e.order = append(e.order, key)
	} else {
		delete(e.cache, e.order[e.next])
		e.order[e.next] = key
		e.next = (e.next + 1) % len(e.order)
	}
	e.cache[key] = p
}

// build checks expr and plans it.
func (e *Engine) build(env *Env, expr string) (*program, error) {
	if len(expr) > e.opts.MaxExprLen {
		return nil, &CheckError{Issues: []Issue{{
			Message: fmt.Sprintf("rule is %d bytes long; the limit is %d", len(expr), e.opts.MaxExprLen),
		}}}
	}
	checked, iss := env.cel.Compile(expr)
	if iss.Err() != nil {
		return nil, checkError(iss.Errors())
	}
	a := checked.NativeRep()
	info := a.SourceInfo()
	var issues []Issue
	if t := checked.OutputType(); t.Kind() != types.BoolKind && t.Kind() != types.DynKind {
		line, col := position(info.GetStartLocation(a.Expr().ID()))
		issues = append(issues, Issue{line, col, fmt.Sprintf("rule has type %s; it must be bool", cel.FormatCELType(t))})
	}
	issues = append(issues, restrictions(a)...)
	if len(issues) > 0 {
		sortIssues(issues)
		return nil, &CheckError{Issues: issues}
	}
	prog, err := env.cel.Program(checked,
		cel.CostLimit(e.opts.CostLimit),
		cel.CustomDecoratorV2(sortIterRanges(iterRanges(a))),
	)
	if err != nil {
		// Planning a checked rule fails only on a bug here or in cel-go.
		return nil, fmt.Errorf("policy: plan rule: %w", err)
	}
	return &program{prog: prog, info: info}, nil
}

// tzAccessors are the timestamp accessors that take an optional time zone.
var tzAccessors = map[string]bool{
	"getFullYear": true, "getMonth": true, "getDayOfYear": true,
	"getDayOfMonth": true, "getDate": true, "getDayOfWeek": true,
	"getHours": true, "getMinutes": true, "getSeconds": true,
	"getMilliseconds": true,
}

// restrictions reports what CEL allows but rules may not do.
func restrictions(a *ast.AST) []Issue {
	var issues []Issue
	report := func(id int64, format string, args ...any) {
		line, col := position(a.SourceInfo().GetStartLocation(id))
		issues = append(issues, Issue{line, col, fmt.Sprintf(format, args...)})
	}
	ast.PreOrderVisit(a.Expr(), ast.NewExprVisitor(func(x ast.Expr) {
		switch x.Kind() {
		case ast.StructKind:
			report(x.ID(), "rules may not construct messages")
		case ast.CallKind:
			c := x.AsCall()
			if !c.IsMemberFunction() || len(c.Args()) != 1 || !tzAccessors[c.FunctionName()] {
				return
			}
			// A zone name is looked up in each node's time-zone database,
			// which may differ between nodes. Strings with a colon are
			// parsed as offsets; "UTC" needs no database.
			tz := c.Args()[0]
			if tz.Kind() == ast.LiteralKind {
				if s, ok := tz.AsLiteral().(types.String); ok && (s == "UTC" || strings.Contains(string(s), ":")) {
					return
				}
			}
			report(tz.ID(), "%s: the time zone must be \"UTC\" or a fixed offset literal such as \"+01:00\"; zone names are not deterministic across nodes", c.FunctionName())
		}
	}))
	return issues
}

func checkError(errs []*common.Error) *CheckError {
	issues := make([]Issue, 0, len(errs))
	for _, err := range errs {
		line, col := position(err.Location)
		issues = append(issues, Issue{line, col, err.Message})
	}
	sortIssues(issues)
	return &CheckError{Issues: issues}
}

func sortIssues(issues []Issue) {
	slices.SortStableFunc(issues, func(a, b Issue) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
}

// position converts a cel-go location to 1-based line and column, or 0, 0.
func position(l common.Location) (line, col int) {
	if l == nil || l.Line() <= 0 {
		return 0, 0
	}
	return l.Line(), max(l.Column()+1, 1)
}
