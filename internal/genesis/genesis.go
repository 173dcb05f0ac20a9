package genesis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
)

// A Doc is a genesis document. Build one in code or with Parse/Load, and
// check it with Validate before use. A Doc is not safe for concurrent
// mutation; its methods only read it.
type Doc struct {
	// ChainID names the network: 1 to 63 characters of a-z, 0-9 and
	// '-', not starting with '-'. Transactions carry it, so a
	// transaction signed for one network is void on another.
	ChainID string `json:"chain_id"`
	// GenesisTime is the network's start time. It is stored and hashed
	// in UTC (RFC 3339); it must lie between 1970 and 2262, the range of
	// a block header's nanosecond timestamp.
	GenesisTime time.Time `json:"genesis_time"`
	// Orgs are the founding organisations.
	Orgs []Org `json:"orgs"`
	// Members are the initial members: at least one admin per org.
	Members []Member `json:"members"`
	// Validators are the nodes allowed to sign blocks (one in solo mode).
	// Under CometBFT they are the consensus validators, with their voting
	// power, at most one per organisation.
	Validators []Validator `json:"validators"`
	// Consensus is how the network orders transactions: ConsensusSolo,
	// ConsensusCometBFT, or empty (unspecified: each node's configuration
	// decides, solo by default). It is omitted from the canonical form
	// when empty, so genesis hashes made before it existed still hold.
	Consensus string `json:"consensus,omitempty"`
}

// Consensus engines a genesis may name.
const (
	ConsensusSolo     = "solo"
	ConsensusCometBFT = "cometbft"
)

// MaxCometBFTChainIDLen is CometBFT's limit on a chain ID.
const MaxCometBFTChainIDLen = 50

// An Org is a founding organisation.
type Org struct {
	// ID is how members and validators refer to the organisation: 1 to
	// 63 characters of a-z, 0-9 and '-', not starting with '-'.
	ID string `json:"id"`
	// Name is the organisation's display name (1 to MaxNameLen bytes).
	Name string `json:"name"`
	// Kind is one of OrgKinds.
	Kind string `json:"kind"`
}

// A Member is an initial member of an organisation.
type Member struct {
	// ID is the member's ledger identity (see ledger.ValidMemberID).
	ID string `json:"id"`
	// Org is the ID of the member's organisation.
	Org string `json:"org"`
	// Roles are identity roles (see identity.ValidRole), at least one.
	Roles []string `json:"roles"`
	// FHIRUser is the member's own FHIR resource, such as
	// "Practitioner/123" (optional).
	FHIRUser string `json:"fhir_user,omitempty"`
	// PublicKey is the member's Ed25519 key in identity.EncodePublicKey
	// form.
	PublicKey string `json:"public_key"`
}

// A Validator is a node allowed to sign blocks.
type Validator struct {
	// Name identifies the node: same syntax as Org.ID.
	Name string `json:"name"`
	// Org is the ID of the organisation that runs the node.
	Org string `json:"org"`
	// PublicKey is the node's Ed25519 key in identity.EncodePublicKey
	// form.
	PublicKey string `json:"public_key"`
	// Power is the validator's voting power, at least 1.
	Power int64 `json:"power"`
}

const (
	// MaxSize is the largest genesis document Parse and Load accept.
	MaxSize = 4 << 20
	// MaxNameLen is the longest Org.Name, in bytes.
	MaxNameLen = 256
	// MaxTotalPower bounds the validators' summed power, as CometBFT
	// does, so that consensus arithmetic cannot overflow.
	MaxTotalPower = math.MaxInt64 / 8
)

// idRE is the syntax of chain IDs, org IDs and validator names.
var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

const idSyntax = "want 1 to 63 characters of a-z, 0-9 and '-', not starting with '-'"

// OrgKinds returns the valid values of Org.Kind in a fixed order. The
// caller owns the returned slice.
func OrgKinds() []string {
	return []string{"hospital", "clinic", "payer", "research", "sponsor", "manufacturer", "distributor", "pharmacy", "regulator", "other"}
}

// ValidOrgKind reports whether s is one of OrgKinds.
func ValidOrgKind(s string) bool { return slices.Contains(OrgKinds(), s) }

// Genesis times must fit a block header's int64 nanosecond timestamp and
// not precede the Unix epoch.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// Load reads the genesis document at path and returns it parsed and
// validated (see Parse). Errors name path.
func Load(path string) (*Doc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load genesis: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("load genesis: %w", err)
	}
	d, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("genesis file %s: %w", path, err)
	}
	return d, nil
}

// Parse decodes a genesis document strictly and validates it. It refuses
// documents over MaxSize, invalid UTF-8, unknown fields, field names that
// differ from the documented ones only in case, duplicate fields and
// anything after the JSON object. A document that decodes but fails
// Validate gives an error listing every problem. Parse does not retain b.
func Parse(b []byte) (*Doc, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("genesis document is larger than %d bytes", MaxSize)
	}
	if !utf8.Valid(b) {
		return nil, errors.New("genesis document is not valid UTF-8")
	}
	if err := checkKeys(b); err != nil {
		return nil, fmt.Errorf("malformed genesis document: %w", err)
	}
	var d Doc
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("malformed genesis document: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("malformed genesis document: data after the JSON object")
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("invalid genesis document:\n%w", err)
	}
	return &d, nil
}

// keyRE matches every field name the document defines. encoding/json
// matches field names case-insensitively (with Unicode folding), so any
// other spelling is refused before decoding.
var keyRE = regexp.MustCompile(`^[a-z_]+$`)

// checkKeys walks the JSON in b and reports the first object key that is
// not lower-case ASCII or that repeats within its object. Syntax errors
// are left for the decoder to report.
func checkKeys(b []byte) error {
	type frame struct {
		obj     bool
		wantKey bool
		keys    map[string]bool
	}
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // io.EOF, or a syntax error Decode will report
		}
		if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
			top := stack[n-1]
			if key, ok := tok.(string); ok {
				if !keyRE.MatchString(key) {
					return fmt.Errorf("unknown field %q", key)
				}
				if top.keys[key] {
					return fmt.Errorf("duplicate field %q", key)
				}
				top.keys[key] = true
				top.wantKey = false
				continue
			}
			// Otherwise the object's closing '}'.
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, wantKey: true, keys: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

// Validate checks d and returns nil or an error joining (errors.Join) one
// error per problem, each starting with its location, such as
// "orgs[1].id: duplicate of orgs[0].id".
func (d *Doc) Validate() error {
	var errs []error
	add := func(loc, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", loc, fmt.Sprintf(format, args...)))
	}

	switch {
	case d.ChainID == "":
		add("chain_id", "missing")
	case !idRE.MatchString(d.ChainID):
		add("chain_id", "%q is not a valid chain ID: %s", d.ChainID, idSyntax)
	}
	switch t := d.GenesisTime; {
	case t.IsZero():
		add("genesis_time", "missing")
	case t.Before(minTime) || t.After(maxTime):
		add("genesis_time", "%s is out of range: want a time from %s to %s",
			t.UTC().Format(time.RFC3339Nano), minTime.Format(time.RFC3339), maxTime.Format(time.RFC3339))
	}

	if len(d.Orgs) == 0 {
		add("orgs", "at least one organisation is required")
	}
	orgIndex := map[string]int{} // org ID → index of its first definition
	for i, o := range d.Orgs {
		loc := fmt.Sprintf("orgs[%d]", i)
		switch j, dup := orgIndex[o.ID]; {
		case o.ID == "":
			add(loc+".id", "missing")
		case !idRE.MatchString(o.ID):
			add(loc+".id", "%q is not a valid org ID: %s", o.ID, idSyntax)
		case dup:
			add(loc+".id", "%q is a duplicate of orgs[%d].id", o.ID, j)
		default:
			orgIndex[o.ID] = i
		}
		switch {
		case strings.TrimSpace(o.Name) == "":
			add(loc+".name", "missing")
		case len(o.Name) > MaxNameLen:
			add(loc+".name", "longer than %d bytes", MaxNameLen)
		}
		if !ValidOrgKind(o.Kind) {
			add(loc+".kind", "%q is not an organisation kind: want one of %s", o.Kind, strings.Join(OrgKinds(), ", "))
		}
	}
	checkOrg := func(loc, org string) {
		if _, ok := orgIndex[org]; !ok {
			if org == "" {
				add(loc, "missing")
			} else {
				add(loc, "unknown organisation %q", org)
			}
		}
	}

	memberIndex := map[string]int{}
	memberKeys := map[string]int{}
	hasAdmin := map[string]bool{}
	for i, m := range d.Members {
		loc := fmt.Sprintf("members[%d]", i)
		switch j, dup := memberIndex[m.ID]; {
		case m.ID == "":
			add(loc+".id", "missing")
		case !ledger.ValidMemberID(m.ID):
			add(loc+".id", "%q is not a valid member ID", m.ID)
		case dup:
			add(loc+".id", "%q is a duplicate of members[%d].id", m.ID, j)
		default:
			memberIndex[m.ID] = i
		}
		checkOrg(loc+".org", m.Org)
		if len(m.Roles) == 0 {
			add(loc+".roles", "at least one role is required")
		}
		for j, r := range m.Roles {
			rloc := fmt.Sprintf("%s.roles[%d]", loc, j)
			if !identity.ValidRole(r) {
				add(rloc, "%q is not a role: want one of %s", r, joinRoles())
			} else if k := slices.Index(m.Roles, r); k < j {
				add(rloc, "%q is a duplicate of %s.roles[%d]", r, loc, k)
			} else if identity.Role(r) == identity.RoleAdmin {
				hasAdmin[m.Org] = true
			}
		}
		if m.FHIRUser != "" && !ledger.ValidFHIRUser(m.FHIRUser) {
			add(loc+".fhir_user", "%q is not a Practitioner, PractitionerRole, Patient or RelatedPerson reference", m.FHIRUser)
		}
		checkKey(add, loc+".public_key", m.PublicKey, memberKeys, "members", i)
	}

	if len(d.Validators) == 0 {
		add("validators", "at least one validator is required")
	}
	validatorIndex := map[string]int{}
	validatorKeys := map[string]int{}
	var total int64
	for i, v := range d.Validators {
		loc := fmt.Sprintf("validators[%d]", i)
		switch j, dup := validatorIndex[v.Name]; {
		case v.Name == "":
			add(loc+".name", "missing")
		case !idRE.MatchString(v.Name):
			add(loc+".name", "%q is not a valid validator name: %s", v.Name, idSyntax)
		case dup:
			add(loc+".name", "%q is a duplicate of validators[%d].name", v.Name, j)
		default:
			validatorIndex[v.Name] = i
		}
		checkOrg(loc+".org", v.Org)
		checkKey(add, loc+".public_key", v.PublicKey, validatorKeys, "validators", i)
		switch {
		case v.Power <= 0:
			add(loc+".power", "%d is not positive", v.Power)
		case total <= MaxTotalPower-v.Power:
			total += v.Power
		default:
			total = MaxTotalPower + 1
		}
	}
	if total > MaxTotalPower {
		add("validators", "total power exceeds %d", int64(MaxTotalPower))
	}

	switch d.Consensus {
	case "", ConsensusSolo:
	case ConsensusCometBFT:
		if len(d.ChainID) > MaxCometBFTChainIDLen {
			add("chain_id", "longer than %d characters, CometBFT's limit", MaxCometBFTChainIDLen)
		}
		byOrg := map[string]int{}
		for i, v := range d.Validators {
			if j, dup := byOrg[v.Org]; dup && v.Org != "" {
				add(fmt.Sprintf("validators[%d].org", i), "organisation %q already runs validators[%d]: one validator per organisation", v.Org, j)
				continue
			}
			byOrg[v.Org] = i
		}
	default:
		add("consensus", "%q is not a consensus engine: want %q or %q", d.Consensus, ConsensusSolo, ConsensusCometBFT)
	}

	for i, o := range d.Orgs {
		if j := orgIndex[o.ID]; j == i && !hasAdmin[o.ID] {
			add(fmt.Sprintf("orgs[%d]", i), "organisation %q has no member with role %q", o.ID, identity.RoleAdmin)
		}
	}
	return errors.Join(errs...)
}

// checkKey reports a public key that does not parse or that an earlier
// entry of the same list already uses.
func checkKey(add func(loc, format string, args ...any), loc, key string, seen map[string]int, list string, i int) {
	if key == "" {
		add(loc, "missing")
		return
	}
	pub, err := identity.ParsePublicKey(key)
	if err != nil {
		add(loc, "%v", err)
		return
	}
	if j, dup := seen[string(pub)]; dup {
		add(loc, "same key as %s[%d].public_key", list, j)
		return
	}
	seen[string(pub)] = i
}

func joinRoles() string {
	var s []string
	for _, r := range identity.Roles() {
		s = append(s, string(r))
	}
	return strings.Join(s, ", ")
}

// ValidatorByKeyID returns the validator whose public key has the given
// identity.KeyIDOf key ID. Validators whose key does not parse are
// skipped. It parses every validator's key, so callers doing many
// look-ups should build their own index.
func (d *Doc) ValidatorByKeyID(id string) (Validator, bool) {
	for _, v := range d.Validators {
		pub, err := identity.ParsePublicKey(v.PublicKey)
		if err == nil && identity.KeyIDOf(pub) == id {
			return v, true
		}
	}
	return Validator{}, false
}

// ValidID reports whether s is a valid chain ID, organisation ID or
// validator name.
func ValidID(s string) bool { return idRE.MatchString(s) }
