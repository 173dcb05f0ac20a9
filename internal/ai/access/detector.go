// Package access detects suspicious access to patient records in a stream
// of FHIR R4 AuditEvents (IHE Basic Audit Log Patterns shape): snooping
// on VIPs and colleagues, on family and neighbours, curiosity browsing,
// bulk export, stolen credentials and break-glass abuse.
//
// For each access it computes features against per-user and per-role
// baselines learned from the stream itself (volume, time of day, network,
// relations the role usually has, resource types, break-glass and export
// habits) and against a Directory of people and care relationships, then
// combines weighted rules, an isolation forest and optionally an XGBoost
// ensemble from a model file (package model) into a score in [0, 1] with
// the top reasons in plain language.
//
// A Detector is a synchronous state machine: Observe takes AuditEvents one
// by one in commit order and updates its baselines incrementally, so the
// same detector serves a live ledger feed and a file (ScoreStream).
// Reasons never quote names, addresses or identifiers of patients.
package access

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/medledger/medledger/internal/ai/model"
)

// Score is the detector's verdict on one access.
type Score struct {
	ID      string   `json:"id"`
	Score   float64  `json:"score"`
	Reasons []string `json:"reasons"`
	// Alert reports Score ≥ the model's threshold.
	Alert bool `json:"-"`
	// Codes are the feature names behind Reasons, in the same order.
	Codes []string `json:"-"`
}

// Config configures New. The zero value is valid.
type Config struct {
	// Directory answers who users and patients are and which care
	// relationships exist; nil means none (relationship, VIP and family
	// features then lack evidence and stay low).
	Directory Directory
	// MaxReasons is how many reasons a Score carries (default 3).
	MaxReasons int
}

// Detector scores accesses with one model. It is not safe for concurrent
// use: callers serialise Observe (in commit order).
type Detector struct {
	m       *model.Model
	sha     string
	weights [NumFeatures]float64
	bias    float64
	forest  []int // feature index of each forest input
	fbuf    []float64
	boost   []int // feature index of each booster input
	bbuf    []float64
	st      *state
	maxR    int
	x       [NumFeatures]float64
}

//go:embed default_model.json
var defaultModel []byte

// DefaultModel returns the built-in model file (a copy).
func DefaultModel() []byte { return bytes.Clone(defaultModel) }

// ErrModel is wrapped when a model cannot drive this detector.
var ErrModel = errors.New("access: unusable model")

// New returns a detector running m (nil: the built-in model). A model
// from outside the binary must have passed model.CheckRegistered first;
// New does not ask the registry itself.
func New(m *model.Model, cfg Config) (*Detector, error) {
	if m == nil {
		var err error
		if m, err = model.Parse(defaultModel); err != nil {
			return nil, fmt.Errorf("built-in model: %w", err)
		}
	}
	if m.Detector != "access" {
		return nil, fmt.Errorf("%w: model %s is for detector %q, not access", ErrModel, m.Name, m.Detector)
	}
	d := &Detector{m: m, bias: m.Rules.Bias, maxR: cfg.MaxReasons}
	if d.maxR <= 0 {
		d.maxR = 3
	}
	idx := func(name string) (int, error) {
		i := FeatureIndex(name)
		if i < 0 {
			return 0, fmt.Errorf("%w: model %s names feature %q, which this build does not compute", ErrModel, m.Name, name)
		}
		return i, nil
	}
	for name, w := range m.Rules.Weights {
		i, err := idx(name)
		if err != nil {
			return nil, err
		}
		d.weights[i] = w
	}
	if fp := m.Forest; fp != nil {
		for _, name := range fp.Features {
			i, err := idx(name)
			if err != nil {
				return nil, err
			}
			d.forest = append(d.forest, i)
		}
		d.fbuf = make([]float64, len(d.forest))
	}
	if bp := m.Boost; bp != nil {
		names := bp.Booster().FeatureNames
		if len(names) == 0 {
			names = m.Features[:bp.Booster().NumFeature]
		}
		for _, name := range names {
			i, err := idx(name)
			if err != nil {
				return nil, err
			}
			d.boost = append(d.boost, i)
		}
		d.bbuf = make([]float64, len(d.boost))
	}
	var p Params
	if len(m.Params) > 0 {
		dec := json.NewDecoder(bytes.NewReader(m.Params))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("%w: params: %v", ErrModel, err)
		}
	}
	d.st = newState(p, cfg.Directory)
	return d, nil
}

// Model returns the model the detector runs.
func (d *Detector) Model() *model.Model { return d.m }

// Threshold is the score at or above which an access alerts.
func (d *Detector) Threshold() float64 { return d.m.Threshold }

// Observe scores e against the baselines learned so far, then learns from
// it. Events should arrive in commit (time) order; an event without a
// time is scored at the latest time seen.
func (d *Detector) Observe(e *Event) Score {
	rel, u := d.st.observe(e, &d.x)
	z := d.bias
	var contrib [NumFeatures]float64
	for i, w := range d.weights {
		c := w * d.x[i]
		contrib[i] = c
		z += c
	}
	var forestC float64
	if fp := d.m.Forest; fp != nil {
		for k, i := range d.forest {
			d.fbuf[k] = d.x[i]
		}
		forestC = fp.Weight * (fp.Forest.Score(d.fbuf) - fp.Center)
		z += forestC
	}
	if bp := d.m.Boost; bp != nil {
		for k, i := range d.boost {
			d.bbuf[k] = d.x[i]
		}
		z += bp.Weight * bp.Booster().Margin(d.bbuf)
	}
	s := Score{ID: e.ID, Score: 1 / (1 + math.Exp(-z))}
	s.Alert = s.Score >= d.m.Threshold
	s.Reasons, s.Codes = d.reasons(e, rel, u, &contrib, forestC)
	return s
}

// Features computes e's feature vector (and learns from e), for training
// and inspection. The caller owns the returned array.
func (d *Detector) Features(e *Event) [NumFeatures]float64 {
	var x [NumFeatures]float64
	d.st.observe(e, &x)
	return x
}

// reasons explains the largest contributions to the score in plain words.
func (d *Detector) reasons(e *Event, rel Relation, u *userState, contrib *[NumFeatures]float64, forestC float64) ([]string, []string) {
	type item struct {
		i int
		c float64
	}
	var items []item
	for i, c := range contrib {
		if c >= 0.75 {
			items = append(items, item{i, c})
		}
	}
	if forestC >= 0.75 {
		items = append(items, item{-1, forestC})
	}
	slices.SortStableFunc(items, func(a, b item) int {
		switch {
		case a.c > b.c:
			return -1
		case a.c < b.c:
			return 1
		}
		return 0
	})
	var texts, codes []string
	seen := map[string]bool{}
	for _, it := range items {
		if len(texts) == d.maxR {
			break
		}
		code, text := "iforest", "the combination of this access's features is unusual for this hospital (isolation forest)"
		if it.i >= 0 {
			code, text = FeatureNames[it.i], explain(it.i, e, rel, u, &d.x)
		}
		if text == "" || seen[text] {
			continue
		}
		seen[text] = true
		texts = append(texts, text)
		codes = append(codes, code)
	}
	if texts == nil {
		texts = []string{}
	}
	return texts, codes
}

func explain(i int, e *Event, rel Relation, u *userState, x *[NumFeatures]float64) string {
	role := u.info.Role
	if role == "" {
		role = "user"
	}
	switch i {
	case FRelSurprisal:
		return fmt.Sprintf("a %s rarely opens records with this kind of relationship (%s): %s", role, relPhrase(rel), pct(math.Exp(-x[i])))
	case FOutsideCare:
		if rel == RelFacility {
			return "the patient is in the hospital, but the user is not on the patient's care team or in the treating department"
		}
		return "no care relationship, encounter or consent explains this access"
	case FNoEncounter:
		return "the patient has no recent encounter at this hospital"
	case FVIPOutsideCare:
		return "the patient is flagged VIP/celebrity and the user is not on the care team"
	case FEmployeeOutsideCare:
		return "the patient is a member of staff (EMP) and the user is not on the care team"
	case FSameAddress:
		return "the patient lives at the user's home address (possible family member)"
	case FSameStreet:
		return "the patient lives on the user's street (possible neighbour)"
	case FSameSurname:
		return "the patient has the user's surname"
	case FOffHours:
		if h := u.usualHours(); h != "" && !e.Time.IsZero() {
			return fmt.Sprintf("access at %s, outside the user's usual hours (%s)", e.Time.Format("15:04"), h)
		}
		return "access at an hour the user rarely works"
	case FNetNewUser:
		return "from a network this user has never used before"
	case FNetRareOrg:
		return "from a network rarely or never seen at this organisation"
	case FAddrNewUser:
		return "from a device address this user has never used"
	case FDenied, FDeniedHour:
		n := int(math.Round(math.Expm1(x[FDeniedHour])))
		if n <= 1 {
			return "the access was denied"
		}
		return fmt.Sprintf("%d denied attempts by this user in the last hour", n)
	case FBreakGlass, FBreakGlassSurprisal:
		return fmt.Sprintf("break-glass (emergency access), which a %s in this department rarely uses", role)
	case FBreakGlassOutsideCare:
		return "break-glass used for a patient with no care relationship to the user"
	case FBreakGlass7d:
		return fmt.Sprintf("break-glass used %d times by this user in the past 7 days", int(math.Round(math.Expm1(x[i])))+1)
	case FExport, FExportSurprisal:
		return fmt.Sprintf("bulk export ($export), which a %s almost never runs", role)
	case FSearchSizeZ:
		if e.Count >= 0 {
			return fmt.Sprintf("a search returning %d records, far more than usual for a %s", e.Count, role)
		}
		return "an unusually large search"
	case FSearchesHour:
		return fmt.Sprintf("%d searches or exports by this user in the last hour", int(math.Round(math.Expm1(x[i]))))
	case FVolumeHourZ:
		return "far more accesses in the last hour than this user's usual"
	case FPatientsTodayZ:
		return fmt.Sprintf("%d different patients opened today, far more than usual for a %s", len(u.today), role)
	case FUnexplained2h:
		return fmt.Sprintf("%d patients opened in the last two hours without a care relationship that explains it", len(u.unexplN))
	case FTypeSurprisal:
		return fmt.Sprintf("a %s rarely does this (%s %s)", role, e.Op, e.DataType)
	}
	return ""
}

func relPhrase(r Relation) string {
	switch r {
	case RelNone:
		return "no recent encounter"
	case RelFacility:
		return "in-house patient of another team"
	case RelDepartment:
		return "patient of the department"
	case RelCare:
		return "on the care team"
	}
	return "unknown"
}

func pct(p float64) string {
	switch {
	case p < 0.001:
		return "under 0.1% of its accesses"
	case p < 0.01:
		return fmt.Sprintf("%.1f%% of its accesses", 100*p)
	}
	return fmt.Sprintf("%.0f%% of its accesses", 100*p)
}

// BaseModel returns the hand-set rule weights and parameters of the
// built-in model, without a forest: the starting point of Train.
func BaseModel() *model.Model {
	w := map[string]float64{
		"rel_surprisal":            0.5,
		"outside_care":             1,
		"no_encounter":             1,
		"vip_outside_care":         5.5,
		"employee_outside_care":    4.5,
		"same_address":             6,
		"same_street":              4.5,
		"same_surname":             1.5,
		"off_hours":                0.45,
		"net_new_user":             1.5,
		"net_rare_org":             0.45,
		"addr_new_user":            0.5,
		"denied":                   0.5,
		"denied_hour":              1,
		"break_glass":              1,
		"break_glass_surprisal":    0.4,
		"break_glass_outside_care": 2.5,
		"break_glass_7d":           0.8,
		"export":                   3,
		"export_surprisal":         0.5,
		"search_size_z":            1.5,
		"searches_hour":            0.5,
		"volume_hour_z":            0.3,
		"patients_today_z":         0.3,
		"unexplained_2h":           3,
		"type_surprisal":           0.2,
	}
	return &model.Model{
		Format: model.Format, Name: "access-default", Version: "1", Detector: "access",
		Features:  FeatureNames[:],
		Params:    json.RawMessage(`{}`),
		Rules:     model.Rules{Bias: -7, Weights: w},
		Threshold: 0.5,
	}
}
