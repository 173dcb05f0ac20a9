package contract

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/policy"
)

// Contract is one domain's deterministic transaction logic. Exec applies a
// method to the state through c. It returns nil on success, a *ledger.Error
// (CodeContract, CodeDenied, CodeUnknownMethod) when the transaction is
// refused, or any other error when execution cannot proceed (a storage
// failure): that halts the block instead of committing a result.
type Contract interface {
	Name() string
	Exec(c *Context, method string, payload []byte) error
}

// PolicyDeclarer is an optional interface: contracts that guard methods with
// CEL policies declare them, with their defaults.
type PolicyDeclarer interface {
	Policies() []Policy
}

// Policy declares a named CEL rule. Every policy sees the variables
// signer, request, target and block (see ActionEnv).
type Policy struct {
	Name    string // "<contract>.<action>"
	Doc     string
	Default string // used until an admin sets another rule
	// Env is the rule's environment; nil means ActionEnv. Policies that
	// decide something other than a transaction (such as who may read a
	// record) declare their own, and are evaluated by their owner with
	// Machine.Engine rather than by Context.Allow.
	Env *policy.Env
}

// env returns the policy's environment.
func (p Policy) env() *policy.Env {
	if p.Env == nil {
		return ActionEnv
	}
	return p.Env
}

// ActionEnv is the environment of every action policy:
//
//	signer:  {id, org, roles (list of strings), active (bool)}
//	request: the transaction's payload fields the contract exposes
//	target:  the record acted on, if any (e.g. the member being suspended)
//	block:   {height (int), time (timestamp)}
var ActionEnv = mustEnv(
	policy.Var{Name: "signer", Type: policy.Map, Doc: "the signing member: id, org, roles, active"},
	policy.Var{Name: "request", Type: policy.Map, Doc: "the request's fields"},
	policy.Var{Name: "target", Type: policy.Map, Doc: "the record acted on (empty if none)"},
	policy.Var{Name: "block", Type: policy.Map, Doc: "height and time of the block"},
)

func mustEnv(vars ...policy.Var) *policy.Env {
	e, err := policy.NewEnv(vars...)
	if err != nil {
		panic(err)
	}
	return e
}

// Machine is the registry of contracts and their policies. It is immutable
// after NewMachine and safe for concurrent use.
type Machine struct {
	chainID   string
	contracts map[string]Contract
	policies  map[string]Policy
	engine    *policy.Engine
	members   memberCache
}

// NewMachine registers the given contracts and the built-in policy
// contract. Every declared policy's default must type-check.
func NewMachine(chainID string, engine *policy.Engine, cs ...Contract) (*Machine, error) {
	m := &Machine{chainID: chainID, contracts: map[string]Contract{}, policies: map[string]Policy{}, engine: engine}
	all := append([]Contract{policyContract{m}}, cs...)
	for _, c := range all {
		name := c.Name()
		if !ledger.ValidName(name) {
			return nil, fmt.Errorf("contract name %q is invalid", name)
		}
		if _, dup := m.contracts[name]; dup {
			return nil, fmt.Errorf("contract %q registered twice", name)
		}
		m.contracts[name] = c
		if pd, ok := c.(PolicyDeclarer); ok {
			for _, p := range pd.Policies() {
				if !strings.HasPrefix(p.Name, name+".") {
					return nil, fmt.Errorf("policy %q of contract %q must start with %q", p.Name, name, name+".")
				}
				if err := engine.Check(p.env(), p.Default); err != nil {
					return nil, fmt.Errorf("default of policy %q: %w", p.Name, err)
				}
				m.policies[p.Name] = p
			}
		}
	}
	return m, nil
}

// ChainID returns the chain the machine executes for.
func (m *Machine) ChainID() string { return m.chainID }

// HasContract reports whether a contract is registered.
func (m *Machine) HasContract(name string) bool { _, ok := m.contracts[name]; return ok }

// Contracts lists the registered contract names, sorted.
func (m *Machine) Contracts() []string {
	out := make([]string, 0, len(m.contracts))
	for n := range m.contracts {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Policies lists the declared policies, sorted by name.
func (m *Machine) Policies() []Policy {
	out := make([]Policy, 0, len(m.policies))
	for _, p := range m.policies {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Policy) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Member resolves member id in r like LookupMember, through the machine's
// cache of decoded records. The returned record is shared: never modify it.
func (m *Machine) Member(r StateReader, id string) (*Member, bool, error) {
	return m.members.lookup(r, id)
}

// Engine returns the engine that evaluates the machine's policies.
func (m *Machine) Engine() *policy.Engine { return m.engine }

// PolicyVersionKey is the state key holding the height at which any
// policy rule last changed (absent until the first change).
var PolicyVersionKey = []byte("policy/v")

// PolicyKey is the state key of a policy's current rule.
func PolicyKey(name string) []byte { return []byte("policy/r/" + name) }

// Rule returns the rule in force for a policy: the stored one, else the
// default.
func (m *Machine) Rule(r StateReader, name string) (string, error) {
	p, ok := m.policies[name]
	if !ok {
		return "", fmt.Errorf("no policy %q", name)
	}
	v, ok, err := r.Get(PolicyKey(name))
	if err != nil {
		return "", err
	}
	if ok {
		return string(v), nil
	}
	return p.Default, nil
}

// Block executes the transactions of one block, in order, against an
// overlay on committed state. It is not safe for concurrent use.
type Block struct {
	m      *Machine
	height uint64
	time   time.Time
	state  *overlay
	seen   map[ledger.Hash]struct{}
	// Committed, if set, reports whether a tx ID is already on the ledger;
	// Apply then rejects such transactions as replays. Solo mode leaves it
	// nil because admission already checked.
	Committed func(ledger.Hash) (bool, error)
}

// Begin starts executing block height (with block time t) over base.
func (m *Machine) Begin(base StateReader, height uint64, t time.Time) *Block {
	return &Block{m: m, height: height, time: t.UTC(), state: newOverlay(base), seen: map[ledger.Hash]struct{}{}}
}

// State returns a reader of the state including this block's writes so far.
func (b *Block) State() StateReader { return b.state }

// Apply executes one transaction and returns its result. verified, if not
// nil, is a public key the caller already verified tx's signature against;
// if it is the signer's current key the signature is not checked again.
// A non-nil error means execution could not proceed (storage failure) and
// the block must be abandoned.
func (b *Block) Apply(tx *ledger.Tx, id ledger.Hash, verified ed25519.PublicKey) (ledger.Result, error) {
	if tx.ChainID != b.m.chainID {
		return fail(ledger.Errorf(ledger.CodeWrongChain, "transaction is for chain %q, this is %q", tx.ChainID, b.m.chainID)), nil
	}
	if _, dup := b.seen[id]; dup {
		return fail(ledger.Errorf(ledger.CodeReplay, "transaction %s is already in this block", id)), nil
	}
	if b.Committed != nil {
		done, err := b.Committed(id)
		if err != nil {
			return ledger.Result{}, err
		}
		if done {
			return fail(ledger.Errorf(ledger.CodeReplay, "transaction %s is already committed", id)), nil
		}
	}
	signer, ok, err := b.m.members.lookup(b.state, tx.Signer)
	if err != nil {
		return ledger.Result{}, err
	}
	if !ok {
		return fail(ledger.Errorf(ledger.CodeUnknownSigner, "signer %q is not an enrolled member", tx.Signer)), nil
	}
	if !signer.Active() {
		return fail(ledger.Errorf(ledger.CodeSuspendedSigner, "signer %q is suspended", tx.Signer)), nil
	}
	if !bytes.Equal(verified, signer.PublicKey) && !identity.Verify(signer.PublicKey, ledger.SigningMessage(id), tx.Signature) {
		return fail(ledger.Errorf(ledger.CodeBadSignature, "signature does not verify with the current key of %q", tx.Signer)), nil
	}
	c, ok := b.m.contracts[tx.Contract]
	if !ok {
		return fail(ledger.Errorf(ledger.CodeUnknownContract, "no contract %q", tx.Contract)), nil
	}
	b.seen[id] = struct{}{}
	ctx := &Context{
		Height: b.height, Time: b.time, TxID: id, Signer: signer,
		contract: c.Name(), m: b.m, tx: newOverlay(b.state),
	}
	if err := c.Exec(ctx, tx.Method, tx.Payload); err != nil {
		var le *ledger.Error
		if errors.As(err, &le) {
			return fail(le), nil
		}
		return ledger.Result{}, fmt.Errorf("execute %s at height %d: %w", tx, b.height, err)
	}
	if err := checkEvents(ctx.events); err != nil {
		return fail(err), nil
	}
	ctx.tx.mergeInto(b.state)
	return ledger.Result{Code: ledger.CodeOK, Events: ctx.events}, nil
}

// checkEvents keeps results decodable: a contract that emits more than the
// limits fails deterministically instead of writing an unreadable result.
func checkEvents(evs []ledger.Event) *ledger.Error {
	if len(evs) > ledger.MaxEvents {
		return ledger.Errorf(ledger.CodeContract, "the contract emitted %d events, limit %d", len(evs), ledger.MaxEvents)
	}
	for _, ev := range evs {
		if !ledger.ValidName(ev.Type) || len(ev.Attrs) > ledger.MaxAttrs {
			return ledger.Errorf(ledger.CodeContract, "the contract emitted an invalid event")
		}
		for _, a := range ev.Attrs {
			if len(a.Key) == 0 || len(a.Key) > ledger.MaxNameLen || len(a.Value) > ledger.MaxAttrLen || !utf8.ValidString(a.Key) || !utf8.ValidString(a.Value) {
				return ledger.Errorf(ledger.CodeContract, "the contract emitted an invalid event attribute")
			}
		}
	}
	return nil
}

func fail(e *ledger.Error) ledger.Result {
	msg := e.Msg
	if len(msg) > ledger.MaxMessageLen {
		msg = msg[:ledger.MaxMessageLen]
	}
	// DecodeResult refuses a message that is not valid UTF-8, and the cut
	// above may split a rune: the block would not verify.
	msg = strings.ToValidUTF8(msg, "")
	return ledger.Result{Code: e.Code, Message: msg}
}

// Changes returns the block's state changes sorted by key.
func (b *Block) Changes() []ledger.Change { return b.state.changes() }

// Context is what a contract sees while executing one transaction.
type Context struct {
	Height uint64      // block height
	Time   time.Time   // block time (UTC); the only clock
	TxID   ledger.Hash // the transaction being executed
	Signer *Member     // the resolved, active signer; shared, never modify it

	contract string
	m        *Machine
	tx       *overlay
	events   []ledger.Event
}

func (c *Context) key(k string) []byte { return []byte(c.contract + "/" + k) }

// Get reads key k in the contract's own namespace.
func (c *Context) Get(k string) ([]byte, bool, error) { return c.tx.Get(c.key(k)) }

// Set writes key k in the contract's own namespace.
func (c *Context) Set(k string, v []byte) { c.tx.set(c.key(k), v) }

// Delete deletes key k in the contract's own namespace.
func (c *Context) Delete(k string) { c.tx.del(c.key(k)) }

// Read reads key k in another contract's namespace (read-only).
func (c *Context) Read(contract, k string) ([]byte, bool, error) {
	return c.tx.Get([]byte(contract + "/" + k))
}

// State returns a read-only view of the whole state as this transaction
// sees it.
func (c *Context) State() StateReader { return c.tx }

// Emit records an event of type typ with key/value attribute pairs.
func (c *Context) Emit(typ string, kv ...string) {
	ev := ledger.Event{Type: typ}
	for i := 0; i+1 < len(kv); i += 2 {
		ev.Attrs = append(ev.Attrs, ledger.Attr{Key: kv[i], Value: kv[i+1]})
	}
	c.events = append(c.events, ev)
}

// SignerVars returns the signer as a policy input.
func SignerVars(m *Member) map[string]any {
	if m == nil {
		return map[string]any{"id": "", "org": "", "roles": []string{}, "active": false}
	}
	return map[string]any{"id": m.ID, "org": m.Org, "roles": slices.Clone(m.Roles), "active": m.Active()}
}

// Allow evaluates policy name for this transaction's signer with the given
// request and target (either may be nil) and returns a CodeDenied error if
// the rule is false or fails.
func (c *Context) Allow(name string, request, target map[string]any) error {
	if c.m.policies[name].Env != nil {
		return fmt.Errorf("policy %q is not an action policy", name)
	}
	rule, err := c.m.Rule(c.tx, name)
	if err != nil {
		return err
	}
	if request == nil {
		request = map[string]any{}
	}
	if target == nil {
		target = map[string]any{}
	}
	ok, err := c.m.engine.Eval(ActionEnv, rule, map[string]any{
		"signer":  SignerVars(c.Signer),
		"request": request,
		"target":  target,
		"block":   map[string]any{"height": int64(c.Height), "time": c.Time},
	})
	if err != nil {
		return ledger.Errorf(ledger.CodeDenied, "policy %s could not be evaluated: %v", name, err)
	}
	if !ok {
		return ledger.Errorf(ledger.CodeDenied, "policy %s does not allow %s", name, c.Signer.ID)
	}
	return nil
}

// DecodePayload strictly decodes a JSON payload into v: unknown fields,
// duplicate names, invalid UTF-8, trailing data and type mismatches are
// contract errors saying what was wrong and where. Field names match
// exactly (not case-insensitively as encoding/json does).
//
// It uses the JSON v2 decoder (github.com/go-json-experiment/json), about
// 2.5 times as fast as encoding/json on audit batches. Its error texts are
// not shown as they are: they may quote payload content (an unknown
// member's name, a value, a map key), which may be personal data.
func DecodePayload(payload []byte, v any) error {
	err := jsonv2.Unmarshal(payload, v, jsonv2.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	var se *jsonv2.SemanticError
	var sy *jsontext.SyntacticError
	switch {
	case errors.As(err, &se) && errors.Is(se.Err, jsonv2.ErrUnknownName):
		return ledger.Errorf(ledger.CodeContract, "payload: unknown field in %s", safePointer(se.JSONPointer.Parent(), reflect.TypeOf(v)))
	case errors.As(err, &se):
		what := "value"
		if se.JSONKind != 0 {
			what = se.JSONKind.String()
		}
		return ledger.Errorf(ledger.CodeContract, "payload: at %s: a JSON %s does not fit %s", safePointer(se.JSONPointer, reflect.TypeOf(v)), what, goKind(se.GoType))
	case errors.As(err, &sy):
		if errors.Is(sy.Err, jsontext.ErrDuplicateName) {
			return ledger.Errorf(ledger.CodeContract, "payload: duplicate field in %s", safePointer(sy.JSONPointer.Parent(), reflect.TypeOf(v)))
		}
		if errors.Is(sy.Err, io.ErrUnexpectedEOF) {
			return ledger.Errorf(ledger.CodeContract, "payload: the JSON value is incomplete")
		}
		return ledger.Errorf(ledger.CodeContract, "payload: not valid JSON at byte %d", sy.ByteOffset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ledger.Errorf(ledger.CodeContract, "payload: the JSON value is incomplete")
	}
	return ledger.Errorf(ledger.CodeContract, "payload: not valid JSON")
}

// safePointer writes p for an error message, naming only what the
// payload's Go type defines (field names, array indices): a map key
// (free content) shows as "*".
func safePointer(p jsontext.Pointer, t reflect.Type) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		b.WriteByte('/')
		switch {
		case t == nil:
			b.WriteByte('*')
		case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
			if _, err := strconv.ParseUint(tok, 10, 32); err == nil {
				b.WriteString(tok)
			} else {
				b.WriteByte('*')
			}
			t = t.Elem()
		case t.Kind() == reflect.Map:
			b.WriteByte('*')
			t = t.Elem()
		case t.Kind() == reflect.Struct:
			f, ok := jsonField(t, tok)
			if !ok {
				b.WriteByte('*')
				t = nil
				continue
			}
			b.WriteString(tok)
			t = f
		default:
			b.WriteByte('*')
			t = nil
		}
	}
	if b.Len() == 0 {
		return "the top-level object"
	}
	return b.String()
}

// jsonField returns the type of t's field whose JSON name is name.
func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case tag == name, tag == "" && f.IsExported() && f.Name == name:
			return f.Type, true
		case f.Anonymous && tag == "":
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if inner, ok := jsonField(ft, name); ok {
					return inner, true
				}
			}
		}
	}
	return nil, false
}

// goKind names the kind of value a Go type holds, for error messages.
func goKind(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "the field"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "the field"
}

// policyContract is the built-in contract that sets policy rules.
type policyContract struct{ m *Machine }

func (policyContract) Name() string { return "policy" }

func (policyContract) Policies() []Policy {
	return []Policy{{
		Name:    "policy.set",
		Doc:     "who may replace a policy rule",
		Default: `signer.active && "admin" in signer.roles`,
	}}
}

// PolicySet is the payload of policy.set and policy.reset.
type PolicySet struct {
	Name string `json:"name"`
	Rule string `json:"rule,omitempty"`
}

func (p policyContract) Exec(c *Context, method string, payload []byte) error {
	var req PolicySet
	switch method {
	case "set", "reset":
	default:
		return ledger.Errorf(ledger.CodeUnknownMethod, "policy has no method %q (want set or reset)", method)
	}
	if err := DecodePayload(payload, &req); err != nil {
		return err
	}
	if _, ok := p.m.policies[req.Name]; !ok {
		return ledger.Errorf(ledger.CodeContract, "no policy named %q", req.Name)
	}
	if err := c.Allow("policy.set", map[string]any{"name": req.Name, "rule": req.Rule}, nil); err != nil {
		return err
	}
	// The height of the last change of any rule: readers may keep what
	// they derived from the rules while it stays the same.
	c.Set("v", []byte(strconv.FormatUint(c.Height, 10)))
	if method == "reset" {
		c.Delete("r/" + req.Name)
		c.Emit("policy.reset", "name", req.Name)
		return nil
	}
	if err := p.m.engine.Check(p.m.policies[req.Name].env(), req.Rule); err != nil {
		return ledger.Errorf(ledger.CodeContract, "rule for %s does not type-check: %v", req.Name, err)
	}
	c.Set("r/"+req.Name, []byte(req.Rule))
	c.Emit("policy.set", "name", req.Name)
	return nil
}
