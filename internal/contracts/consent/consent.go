// Package consent is the contract that holds, on the ledger, the facts an
// access decision rests on: patients' consents (permit or deny, for whom,
// for what purpose, which kinds of record, when), care relationships
// (encounters and care teams naming a practitioner), declared emergencies
// (break-glass, time-boxed, with the reason sealed to the patient's key),
// and erasure records. Each takes effect at the block that commits it, and
// since state is versioned, any past decision can be recomputed as of its
// block.
//
// It stores no clear-text personal data: patients appear only as
// pseudonyms (pt_...), practitioners by their FHIR resource reference or
// ledger member id, and a break-glass reason only as ciphertext. It
// decides nothing itself: the access package evaluates these facts and
// the access rules (CEL policies declared here, so that operators change
// them by policy transaction) for each request.
package consent

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/ledger"
)

// Contract is the consent contract. The zero value is ready to use.
type Contract struct{}

var _ contract.Contract = Contract{}

// Name implements contract.Contract.
func (Contract) Name() string { return "consent" }

const writerRule = `signer.active && ("system" in signer.roles || "admin" in signer.roles)`

// Policies implements contract.PolicyDeclarer: who may record facts, and
// the access rules (see AccessRules).
func (Contract) Policies() []contract.Policy {
	ps := []contract.Policy{
		{Name: "consent.set", Doc: "who may record a patient's consent (request: patient, status)", Default: writerRule},
		{Name: "consent.care", Doc: "who may record a care relationship (request: patient, source, active)", Default: writerRule},
		{Name: "consent.break_glass", Doc: "who may record a declared emergency (request: patient, member, minutes)", Default: writerRule},
		{Name: "consent.erase", Doc: "who may record a patient's erasure (request: patient, by)", Default: writerRule},
		{Name: "consent.share", Doc: "who may share (or stop sharing) a patient's data key with an organisation (request: patient, org)", Default: writerRule},
	}
	for _, r := range AccessRules {
		ps = append(ps, contract.Policy{Name: r.Name, Doc: r.Doc, Default: r.Default, Env: AccessEnv})
	}
	return ps
}

// Methods.
const (
	MethodSet        = "set"
	MethodCare       = "care"
	MethodBreakGlass = "break_glass"
	MethodErase      = "erase"
	MethodShare      = "share"
	MethodUnshare    = "unshare"
)

// Provision types.
const (
	Permit = "permit"
	Deny   = "deny"
)

// Actor kinds a provision may name.
const (
	ActorMember       = "member"       // a ledger member id, "st-mary/dr-jones"
	ActorPractitioner = "practitioner" // a FHIR reference, "Practitioner/123"
	ActorRole         = "role"         // a ledger role, "practitioner"
	ActorOrg          = "org"          // a ledger organisation id, "st-mary"
)

// Actions a provision may name (FHIR consentaction codes).
const (
	ActionAccess  = "access"  // read
	ActionCorrect = "correct" // write
)

// Actor is who a provision applies to.
type Actor struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// Provision is one rule of a consent. Empty lists mean "any".
type Provision struct {
	Type     string   `json:"type"` // permit or deny
	Actors   []Actor  `json:"actors,omitempty"`
	Purposes []string `json:"purposes,omitempty"` // v3 ActReason codes: TREAT, ETREAT, HPAYMT, HRESCH, ...
	Classes  []string `json:"classes,omitempty"`  // resource types
	Actions  []string `json:"actions,omitempty"`  // access, correct
	Start    int64    `json:"start,omitempty"`    // Unix seconds; 0 = open
	End      int64    `json:"end,omitempty"`      // Unix seconds; 0 = open
	// Except are nested provisions (FHIR Consent.provision.provision):
	// where the outer one applies and a nested one matches too, the
	// nested one's type decides. One level only.
	Except []Provision `json:"except,omitempty"`
}

// Consent is the payload of consent.set and its stored record: the
// decision-relevant content of one FHIR Consent version.
type Consent struct {
	ID      string `json:"id"` // the Consent resource id
	Version uint64 `json:"version"`
	Patient string `json:"patient"` // pseudonym
	// Status is the FHIR Consent status; only "active" consents count.
	Status     string      `json:"status"`
	Provisions []Provision `json:"provisions"`
	// Set on the stored record.
	Height uint64 `json:"height,omitempty"`
	Tx     string `json:"tx,omitempty"`
}

// Care is the payload of consent.care and its stored record: a care
// relationship from an Encounter or CareTeam version.
type Care struct {
	Source        string   `json:"source"` // "Encounter/123" or "CareTeam/7"
	Patient       string   `json:"patient"`
	Active        bool     `json:"active"` // from the source's status
	Practitioners []string `json:"practitioners,omitempty"`
	Start         int64    `json:"start,omitempty"`
	End           int64    `json:"end,omitempty"`
	Height        uint64   `json:"height,omitempty"`
}

// BreakGlass is the payload of consent.break_glass.
type BreakGlass struct {
	Patient string `json:"patient"`
	Member  string `json:"member"` // who declared the emergency
	// Reason is the declared reason, sealed to the patient's key by the
	// node (base64); the ledger never holds it in clear.
	Reason  string `json:"reason"`
	Minutes int64  `json:"minutes"`
}

// Emergency is the stored record of a break-glass declaration.
type Emergency struct {
	BreakGlass
	From   int64  `json:"from"`  // Unix seconds (block time)
	Until  int64  `json:"until"` // Unix seconds
	Height uint64 `json:"height"`
	Tx     string `json:"tx"`
}

// MaxBreakGlassMinutes bounds one emergency declaration.
const MaxBreakGlassMinutes = 240

// Erase is the payload of consent.erase.
type Erase struct {
	Patient string `json:"patient"`
	By      string `json:"by"`     // the admin member who asked
	Reason  string `json:"reason"` // a code: patient-request, legal-order, retention-expired
}

// Erasure is the stored record of an erasure.
type Erasure struct {
	Erase
	Height uint64    `json:"height"`
	Time   time.Time `json:"time"`
	Tx     string    `json:"tx"`
}

// Erasure reasons.
var EraseReasons = []string{"patient-request", "legal-order", "retention-expired"}

// Share is the payload of consent.share and its stored record: a
// patient's data keyset wrapped with HPKE to another organisation's
// encryption key, because a consent grants that organisation access. It
// is ciphertext only the recipient can open; its node reads it from the
// ledger without the custodian being online.
type Share struct {
	Patient string `json:"patient"`
	Org     string `json:"org"`     // the recipient organisation
	Consent string `json:"consent"` // the Consent id whose grant this follows
	KeyID   string `json:"key_id"`  // the recipient key's id (crypt.OrgKeyID)
	Wrapped string `json:"wrapped"` // base64 HPKE ciphertext
	Height  uint64 `json:"height,omitempty"`
}

// Unshare is the payload of consent.unshare: the grant ended; the
// custodian rotates the patient's data key, so that versions written from
// now on are not readable with the shared one.
type Unshare struct {
	Patient string `json:"patient"`
	Org     string `json:"org"`
}

// SharePrefix is the prefix of a patient's shares, each under its org.
func SharePrefix(patient string) string { return "s/" + patient + "/" }

// ConsentPrefix is the prefix (in the consent namespace) of a patient's
// consents, each under its Consent id.
func ConsentPrefix(patient string) string { return "c/" + patient + "/" }

// CarePrefix is the prefix of a patient's care relationships, each under
// its source reference.
func CarePrefix(patient string) string { return "r/" + patient + "/" }

// EmergencyKey is the key of a member's latest break-glass declaration for
// a patient.
func EmergencyKey(patient, member string) string { return "b/" + patient + "/" + member }

// ErasureKey is the key of a patient's erasure record.
func ErasureKey(patient string) string { return "e/" + patient }

// VersionKey is the key of the height at which a patient's facts last
// changed: every method sets it, so a reader may keep facts gathered for
// as long as it holds the same value.
func VersionKey(patient string) string { return "v/" + patient }

// touch records that patient's facts change in this block.
func touch(c *contract.Context, patient string) {
	c.Set(VersionKey(patient), []byte(strconv.FormatUint(c.Height, 10)))
}

var (
	patientRE = regexp.MustCompile(`^pt_[a-z0-9]{16,64}$`)
	idRE      = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
	refRE     = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64}$`)
	codeRE    = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,64}$`)
)

// Limits.
const (
	MaxProvisions = 32
	MaxList       = 64
	MaxReason     = 4096 // sealed, base64
)

// Exec implements contract.Contract.
func (Contract) Exec(c *contract.Context, method string, payload []byte) error {
	switch method {
	case MethodSet:
		return execSet(c, payload)
	case MethodCare:
		return execCare(c, payload)
	case MethodBreakGlass:
		return execBreakGlass(c, payload)
	case MethodErase:
		return execErase(c, payload)
	case MethodShare:
		return execShare(c, payload)
	case MethodUnshare:
		return execUnshare(c, payload)
	}
	return ledger.Errorf(ledger.CodeUnknownMethod, "consent has no method %q (want set, care, break_glass, erase, share or unshare)", method)
}

func fail(format string, args ...any) error {
	return ledger.Errorf(ledger.CodeContract, format, args...)
}

func execSet(c *contract.Context, payload []byte) error {
	var in Consent
	if err := contract.DecodePayload(payload, &in); err != nil {
		return err
	}
	if !idRE.MatchString(in.ID) || in.Version == 0 {
		return fail("id must be a FHIR id and version at least 1")
	}
	if !patientRE.MatchString(in.Patient) {
		return fail("patient must be a pseudonym pt_...")
	}
	if !codeRE.MatchString(in.Status) {
		return fail("status must be a FHIR Consent status code")
	}
	if in.Height != 0 || in.Tx != "" {
		return fail("height and tx are set by the ledger")
	}
	if len(in.Provisions) > MaxProvisions {
		return fail("%d provisions, limit %d", len(in.Provisions), MaxProvisions)
	}
	for i, p := range in.Provisions {
		if err := checkProvision(p); err != "" {
			return fail("provisions[%d]: %s", i, err)
		}
	}
	if err := c.Allow("consent.set", map[string]any{"patient": in.Patient, "status": in.Status}, nil); err != nil {
		return err
	}
	k := ConsentPrefix(in.Patient) + in.ID
	if raw, ok, err := c.Get(k); err != nil {
		return err
	} else if ok {
		var prev Consent
		if err := json.Unmarshal(raw, &prev); err != nil {
			return err
		}
		if in.Version <= prev.Version {
			return fail("Consent/%s version %d is not after the recorded version %d", in.ID, in.Version, prev.Version)
		}
	}
	in.Height, in.Tx = c.Height, c.TxID.String()
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	c.Set(k, b)
	touch(c, in.Patient)
	c.Emit("consent.set", "patient", in.Patient, "consent", in.ID, "status", in.Status)
	return nil
}

func checkProvision(p Provision) string {
	if len(p.Except) > MaxProvisions {
		return "too many nested provisions"
	}
	for _, x := range p.Except {
		if len(x.Except) > 0 {
			return "provisions nest one level only"
		}
		if msg := checkProvision(x); msg != "" {
			return "except: " + msg
		}
	}
	if p.Type != Permit && p.Type != Deny {
		return "type must be permit or deny"
	}
	if len(p.Actors) > MaxList || len(p.Purposes) > MaxList || len(p.Classes) > MaxList || len(p.Actions) > MaxList {
		return "too many actors, purposes, classes or actions"
	}
	for _, a := range p.Actors {
		ok := false
		switch a.Kind {
		case ActorMember:
			ok = ledger.ValidMemberID(a.Value)
		case ActorPractitioner:
			ok = refRE.MatchString(a.Value)
		case ActorRole, ActorOrg:
			ok = codeRE.MatchString(a.Value)
		}
		if !ok {
			return "actors must be {kind: member|practitioner|role|org, value}"
		}
	}
	for _, s := range slices.Concat(p.Purposes, p.Classes) {
		if !codeRE.MatchString(s) {
			return "purposes and classes must be codes"
		}
	}
	for _, s := range p.Actions {
		if s != ActionAccess && s != ActionCorrect {
			return "actions must be access or correct"
		}
	}
	if p.Start < 0 || p.End < 0 || (p.End != 0 && p.End < p.Start) {
		return "period end is before its start"
	}
	return ""
}

func execCare(c *contract.Context, payload []byte) error {
	var in Care
	if err := contract.DecodePayload(payload, &in); err != nil {
		return err
	}
	if !refRE.MatchString(in.Source) {
		return fail("source must be a reference such as Encounter/123")
	}
	if !patientRE.MatchString(in.Patient) {
		return fail("patient must be a pseudonym pt_...")
	}
	if len(in.Practitioners) > MaxList {
		return fail("%d practitioners, limit %d", len(in.Practitioners), MaxList)
	}
	for _, p := range in.Practitioners {
		if !refRE.MatchString(p) {
			return fail("practitioners must be references such as Practitioner/123")
		}
	}
	if in.Start < 0 || in.End < 0 || (in.End != 0 && in.End < in.Start) {
		return fail("period end is before its start")
	}
	if in.Height != 0 {
		return fail("height is set by the ledger")
	}
	if err := c.Allow("consent.care", map[string]any{"patient": in.Patient, "source": in.Source, "active": in.Active}, nil); err != nil {
		return err
	}
	in.Height = c.Height
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	c.Set(CarePrefix(in.Patient)+in.Source, b)
	touch(c, in.Patient)
	c.Emit("consent.care", "patient", in.Patient, "source", in.Source, "active", strconv.FormatBool(in.Active))
	return nil
}

func execBreakGlass(c *contract.Context, payload []byte) error {
	var in BreakGlass
	if err := contract.DecodePayload(payload, &in); err != nil {
		return err
	}
	if !patientRE.MatchString(in.Patient) {
		return fail("patient must be a pseudonym pt_...")
	}
	if !ledger.ValidMemberID(in.Member) {
		return fail("member must be a member id")
	}
	if in.Reason == "" || len(in.Reason) > MaxReason {
		return fail("a break-glass declaration needs its (sealed) reason, at most %d bytes", MaxReason)
	}
	// Not proof of sealing, but a reason in clear text is refused rather
	// than written to the ledger for ever.
	if _, err := base64.StdEncoding.DecodeString(in.Reason); err != nil {
		return fail("reason must be the sealed reason, base64")
	}
	if in.Minutes < 1 || in.Minutes > MaxBreakGlassMinutes {
		return fail("minutes must be 1 to %d", MaxBreakGlassMinutes)
	}
	if err := c.Allow("consent.break_glass", map[string]any{"patient": in.Patient, "member": in.Member, "minutes": in.Minutes}, nil); err != nil {
		return err
	}
	from := c.Time.Unix()
	e := Emergency{BreakGlass: in, From: from, Until: from + in.Minutes*60, Height: c.Height, Tx: c.TxID.String()}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	c.Set(EmergencyKey(in.Patient, in.Member), b)
	touch(c, in.Patient)
	c.Emit("consent.break_glass", "patient", in.Patient, "member", in.Member, "until", strconv.FormatInt(e.Until, 10))
	return nil
}

func execErase(c *contract.Context, payload []byte) error {
	var in Erase
	if err := contract.DecodePayload(payload, &in); err != nil {
		return err
	}
	if !patientRE.MatchString(in.Patient) {
		return fail("patient must be a pseudonym pt_...")
	}
	if !ledger.ValidMemberID(in.By) {
		return fail("by must be a member id")
	}
	if !slices.Contains(EraseReasons, in.Reason) {
		return fail("reason must be one of %v", EraseReasons)
	}
	if err := c.Allow("consent.erase", map[string]any{"patient": in.Patient, "by": in.By}, nil); err != nil {
		return err
	}
	if _, ok, err := c.Get(ErasureKey(in.Patient)); err != nil {
		return err
	} else if ok {
		return fail("patient %s is already erased", in.Patient)
	}
	b, err := json.Marshal(Erasure{Erase: in, Height: c.Height, Time: c.Time, Tx: c.TxID.String()})
	if err != nil {
		return err
	}
	c.Set(ErasureKey(in.Patient), b)
	touch(c, in.Patient)
	c.Emit("consent.erased", "patient", in.Patient, "by", in.By)
	return nil
}

var orgRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func execShare(c *contract.Context, payload []byte) error {
	var in Share
	if err := contract.DecodePayload(payload, &in); err != nil {
		return err
	}
	if !patientRE.MatchString(in.Patient) || !orgRE.MatchString(in.Org) || !idRE.MatchString(in.Consent) || !codeRE.MatchString(in.KeyID) {
		return fail("a share needs a patient pseudonym, an organisation, a Consent id and a key id")
	}
	if in.Wrapped == "" || len(in.Wrapped) > 16<<10 {
		return fail("wrapped must be the HPKE ciphertext in base64, at most 16 KiB")
	}
	if _, err := base64.StdEncoding.DecodeString(in.Wrapped); err != nil {
		return fail("wrapped must be base64")
	}
	if in.Height != 0 {
		return fail("height is set by the ledger")
	}
	if err := c.Allow("consent.share", map[string]any{"patient": in.Patient, "org": in.Org}, nil); err != nil {
		return err
	}
	in.Height = c.Height
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	c.Set(SharePrefix(in.Patient)+in.Org, b)
	touch(c, in.Patient)
	c.Emit("consent.shared", "patient", in.Patient, "org", in.Org, "consent", in.Consent)
	return nil
}

func execUnshare(c *contract.Context, payload []byte) error {
	var in Unshare
	if err := contract.DecodePayload(payload, &in); err != nil {
		return err
	}
	if !patientRE.MatchString(in.Patient) || !orgRE.MatchString(in.Org) {
		return fail("an unshare needs a patient pseudonym and an organisation")
	}
	if err := c.Allow("consent.share", map[string]any{"patient": in.Patient, "org": in.Org}, nil); err != nil {
		return err
	}
	if _, ok, err := c.Get(SharePrefix(in.Patient) + in.Org); err != nil {
		return err
	} else if !ok {
		return fail("patient %s is not shared with %s", in.Patient, in.Org)
	}
	c.Delete(SharePrefix(in.Patient) + in.Org)
	touch(c, in.Patient)
	c.Emit("consent.unshared", "patient", in.Patient, "org", in.Org)
	return nil
}
