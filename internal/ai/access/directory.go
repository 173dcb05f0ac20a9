package access

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
)

// Relation is how a care relationship explains an access, strongest last.
type Relation uint8

// Relations.
const (
	RelUnknown    Relation = iota // no encounter or care team data to judge by
	RelNone                       // the patient has no recent encounter here
	RelFacility                   // the patient has a recent encounter, not with the user or their department
	RelDepartment                 // the patient's recent encounter is in the user's department
	RelCare                       // the user takes part in the patient's encounter or care team
	numRelations
)

var relNames = [numRelations]string{"unknown", "none", "facility", "department", "care"}

func (r Relation) String() string { return relNames[r] }

// User is what the directory knows of a member.
type User struct {
	Role   string // e.g. "nurse" (PractitionerRole.code); "" if unknown
	Dept   string // PractitionerRole.organization reference; "" if unknown
	Family string // normalised family name
	Addr   Address
}

// Patient is what the directory knows of a patient.
type Patient struct {
	Family   string // normalised family name
	Addr     Address
	VIP      bool // meta.security CELEB or VIP
	Employee bool // meta.security EMP
}

// Address is a normalised home address.
type Address struct {
	Line   string // first line, lower case, single spaces
	Street string // Line without the house number
	City   string
	Postal string
}

// Directory answers the detector's questions about people and care. The
// node implements it from its records; Context implements it from a Bulk
// Data export. Implementations must be safe for concurrent use.
type Directory interface {
	// User looks a member up by the AuditEvent's user (member id or
	// "Practitioner/id" reference).
	User(user string) (User, bool)
	// Patient looks a patient up by id.
	Patient(id string) (Patient, bool)
	// Relation says how a care relationship explains user's access to
	// patient at time at.
	Relation(user, patient string, at time.Time) Relation
}

// RelationWindow is how long before an encounter starts and after it
// ends it still explains an access (pre-admission work, billing, coding).
const (
	RelationBefore = 24 * time.Hour
	RelationAfter  = 30 * 24 * time.Hour
)

// Context is an in-memory Directory read from a FHIR Bulk Data export
// directory. It is immutable after LoadContext and safe for concurrent use.
type Context struct {
	users     map[string]*ctxUser // by Practitioner id
	byKey     map[string]string   // member id or "Practitioner/id" → Practitioner id
	patients  map[string]*Patient
	encs      map[string][]*ctxEnc // by patient id
	hasEncs   bool
	Files     []string // the files read, in order
	Resources int      // resources read
	Skipped   int      // lines that were not usable resources
}

type ctxUser struct {
	User
	id string
}

type ctxEnc struct {
	id         string
	start, end time.Time // end zero: open
	dept       string
	members    []string // Practitioner ids
}

var _ Directory = (*Context)(nil)

// ContextFiles are the files LoadContext reads, each optional.
var ContextFiles = []string{"Patient.ndjson", "Practitioner.ndjson", "PractitionerRole.ndjson", "Encounter.ndjson", "CareTeam.ndjson"}

// LoadContext reads the context files present in dir (any of
// ContextFiles; a missing one is skipped). Lines that are not resources
// of the expected type are counted in Skipped, not fatal; I/O errors are.
func LoadContext(dir string) (*Context, error) {
	c := &Context{users: map[string]*ctxUser{}, byKey: map[string]string{}, patients: map[string]*Patient{}, encs: map[string][]*ctxEnc{}}
	found := false
	for _, name := range ContextFiles {
		path := filepath.Join(dir, name)
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = true
		c.Files = append(c.Files, path)
		err = c.read(f, strings.TrimSuffix(name, ".ndjson"))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
	if !found {
		if _, err := os.Stat(dir); err != nil {
			return nil, err
		}
	}
	// Care teams were attached by encounter; roles by practitioner.
	return c, nil
}

// pending role and care-team links, resolved as they come (files may
// arrive in any order, so links go through ids only).

type resJSON struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		Security []coding `json:"security"`
	} `json:"meta"`
	Identifier []struct {
		Value string `json:"value"`
	} `json:"identifier"`
	Name []struct {
		Use    string `json:"use"`
		Family string `json:"family"`
	} `json:"name"`
	Address []struct {
		Line       []string `json:"line"`
		City       string   `json:"city"`
		PostalCode string   `json:"postalCode"`
	} `json:"address"`
	// PractitionerRole
	Practitioner reference `json:"practitioner"`
	Organization reference `json:"organization"`
	Code         []concept `json:"code"`
	// Encounter, CareTeam
	Subject     reference `json:"subject"`
	Encounter   reference `json:"encounter"`
	Participant []struct {
		Individual reference `json:"individual"`
		Member     reference `json:"member"`
	} `json:"participant"`
	Period struct {
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"period"`
	ServiceProvider reference `json:"serviceProvider"`
}

func (c *Context) read(r io.Reader, want string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxEventBytes)
	for sc.Scan() {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var j resJSON
		if err := json.Unmarshal(line, &j); err != nil || j.ResourceType != want || j.ID == "" {
			c.Skipped++
			continue
		}
		c.Resources++
		switch want {
		case "Patient":
			p := patientOf(j)
			c.patients[j.ID] = &p
		case "Practitioner":
			u := c.user(j.ID)
			u.Family, u.Addr = familyOf(j), addressOf(j)
			for _, id := range j.Identifier {
				if id.Value != "" {
					c.byKey[id.Value] = j.ID
				}
			}
		case "PractitionerRole":
			typ, id := splitRef(j.Practitioner.Reference)
			if typ != "Practitioner" {
				c.Skipped++
				continue
			}
			u := c.user(id)
			if u.Dept == "" {
				u.Dept = j.Organization.Reference
			}
			if u.Role == "" && len(j.Code) > 0 && len(j.Code[0].Coding) > 0 {
				u.Role = j.Code[0].Coding[0].Code
			}
		case "Encounter", "CareTeam":
			_, pid := splitRef(j.Subject.Reference)
			if pid == "" {
				c.Skipped++
				continue
			}
			e := &ctxEnc{id: want + "/" + j.ID, dept: j.ServiceProvider.Reference}
			if want == "CareTeam" {
				if typ, id := splitRef(j.Encounter.Reference); typ == "Encounter" {
					e.id = "Encounter/" + id // merge into the encounter
				}
			}
			e.start, _ = time.Parse(time.RFC3339Nano, j.Period.Start)
			if t, err := time.Parse(time.RFC3339Nano, j.Period.End); err == nil {
				e.end = t
			}
			for _, p := range j.Participant {
				for _, r := range []string{p.Individual.Reference, p.Member.Reference} {
					if typ, id := splitRef(r); typ == "Practitioner" {
						e.members = append(e.members, id)
					}
				}
			}
			c.addEnc(pid, e)
		}
	}
	return sc.Err()
}

func (c *Context) user(id string) *ctxUser {
	u, ok := c.users[id]
	if !ok {
		u = &ctxUser{id: id}
		c.users[id] = u
		c.byKey["Practitioner/"+id] = id
	}
	return u
}

// addEnc adds an encounter or a care team; a care team that names an
// encounter already known joins it (adding members and dept).
func (c *Context) addEnc(pid string, e *ctxEnc) {
	c.hasEncs = true
	for _, x := range c.encs[pid] {
		if x.id == e.id {
			x.members = append(x.members, e.members...)
			if x.dept == "" {
				x.dept = e.dept
			}
			if x.start.IsZero() {
				x.start = e.start
			}
			if x.end.IsZero() {
				x.end = e.end
			}
			return
		}
	}
	c.encs[pid] = append(c.encs[pid], e)
}

func patientOf(j resJSON) Patient {
	p := Patient{Family: familyOf(j), Addr: addressOf(j)}
	for _, s := range j.Meta.Security {
		switch strings.ToUpper(s.Code) {
		case "CELEB", "VIP":
			p.VIP = true
		case "EMP":
			p.Employee = true
		}
	}
	return p
}

// PatientFromJSON reads what the detector uses of a Patient resource
// (normalised family name and address, VIP and staff security labels),
// as Context does: for directories built from a node's own records.
func PatientFromJSON(b []byte) (Patient, error) {
	var j resJSON
	if err := json.Unmarshal(b, &j); err != nil || j.ResourceType != "Patient" {
		return Patient{}, errors.New("access: not a Patient resource")
	}
	return patientOf(j), nil
}

// PractitionerFromJSON reads a Practitioner resource's normalised family
// name and address, as Context does.
func PractitionerFromJSON(b []byte) (family string, addr Address, err error) {
	var j resJSON
	if err := json.Unmarshal(b, &j); err != nil || j.ResourceType != "Practitioner" {
		return "", Address{}, errors.New("access: not a Practitioner resource")
	}
	return familyOf(j), addressOf(j), nil
}

func familyOf(j resJSON) string {
	for _, n := range j.Name {
		if n.Use == "official" || n.Use == "" || n.Use == "usual" {
			if n.Family != "" {
				return normName(n.Family)
			}
		}
	}
	return ""
}

func addressOf(j resJSON) Address {
	if len(j.Address) == 0 {
		return Address{}
	}
	a := j.Address[0]
	var ad Address
	if len(a.Line) > 0 {
		ad.Line = normName(a.Line[0])
		ad.Street = ad.Line
		if i := strings.IndexByte(ad.Street, ' '); i > 0 && unicode.IsDigit(rune(ad.Street[0])) {
			ad.Street = ad.Street[i+1:]
		}
	}
	ad.City = normName(a.City)
	ad.Postal = strings.ToUpper(strings.ReplaceAll(a.PostalCode, " ", ""))
	return ad
}

var folder = strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ñ", "n", "ü", "u", "ö", "o", "ä", "a", "ç", "c", "'", "", "’", "", ".", "", ",", "")

// normName lower-cases, folds common accents and squeezes spaces, so that
// "García" and "GARCIA" compare equal.
func normName(s string) string {
	return strings.Join(strings.Fields(folder.Replace(strings.ToLower(s))), " ")
}

// User implements Directory.
func (c *Context) User(key string) (User, bool) {
	id, ok := c.byKey[key]
	if !ok {
		return User{}, false
	}
	return c.users[id].User, true
}

// Patient implements Directory.
func (c *Context) Patient(id string) (Patient, bool) {
	p, ok := c.patients[id]
	if !ok {
		return Patient{}, false
	}
	return *p, true
}

// Relation implements Directory.
func (c *Context) Relation(key, patient string, at time.Time) Relation {
	if !c.hasEncs {
		return RelUnknown
	}
	uid, known := c.byKey[key]
	var dept string
	if known {
		dept = c.users[uid].Dept
	}
	best := RelNone
	for _, e := range c.encs[patient] {
		if !e.start.IsZero() && at.Before(e.start.Add(-RelationBefore)) {
			continue
		}
		if !e.end.IsZero() && at.After(e.end.Add(RelationAfter)) {
			continue
		}
		r := RelFacility
		if known {
			switch {
			case contains(e.members, uid):
				return RelCare
			case dept != "" && e.dept == dept:
				r = RelDepartment
			}
		}
		best = max(best, r)
	}
	return best
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
