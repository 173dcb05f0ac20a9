package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/contracts/models"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/policy"
)

// memberView is a member as the admin pages show it.
type memberView struct {
	contract.Member
	KeyID string
}

type validatorView struct {
	contract.Validator
	KeyID string
}

// scanJSON decodes every value under prefix into a new T.
func scanJSON[T any](st State, prefix string) ([]*T, error) {
	var out []*T
	var bad error
	err := st.Scan([]byte(prefix), func(_, v []byte) bool {
		x := new(T)
		if err := json.Unmarshal(v, x); err != nil {
			bad = err
			return false
		}
		out = append(out, x)
		return true
	})
	if err == nil {
		err = bad
	}
	return out, err
}

// serveMembers lists organisations, validators (the nodes' keys) and
// members with their roles and keys.
func (s *Server) serveMembers(w http.ResponseWriter, r *http.Request, c *call) {
	orgs, err := scanJSON[contract.Org](s.deps.State, "members/o/")
	var ms []*contract.Member
	var vs []*contract.Validator
	if err == nil {
		ms, err = scanJSON[contract.Member](s.deps.State, "members/m/")
	}
	if err == nil {
		vs, err = scanJSON[contract.Validator](s.deps.State, "members/v/")
	}
	if err != nil {
		s.log.Error("read members", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "Try again later", "The members could not be read from the ledger.")
		return
	}
	role := r.URL.Query().Get("role")
	var mv []memberView
	for _, m := range ms {
		if role != "" && !m.HasRole(role) {
			continue
		}
		mv = append(mv, memberView{Member: *m, KeyID: identity.KeyIDOf(m.PublicKey)})
	}
	var vv []validatorView
	for _, v := range vs {
		vv = append(vv, validatorView{Validator: *v, KeyID: v.KeyID})
	}
	s.render(w, r, http.StatusOK, "members", s.newView(r, c, "Members and organisations", struct {
		Orgs       []*contract.Org
		Validators []validatorView
		Members    []memberView
		Role       string
		Roles      []string
	}{orgs, vv, mv, role, roleNames()}))
}

func roleNames() []string {
	var out []string
	for _, r := range identity.Roles() {
		out = append(out, string(r))
	}
	return out
}

// policyView is a policy with the rule in force.
type policyView struct {
	Name, Doc, Default, Rule string
	Custom                   bool
	Vars                     []policy.Var
}

func (s *Server) policyViews() ([]policyView, error) {
	var out []policyView
	for _, p := range s.deps.Machine.Policies() {
		rule, err := s.deps.Machine.Rule(latest{s.deps.State}, p.Name)
		if err != nil {
			return nil, err
		}
		env := p.Env
		if env == nil {
			env = contract.ActionEnv
		}
		out = append(out, policyView{Name: p.Name, Doc: p.Doc, Default: p.Default, Rule: rule, Custom: rule != p.Default, Vars: env.Vars()})
	}
	return out, nil
}

func (s *Server) servePolicies(w http.ResponseWriter, r *http.Request, c *call) {
	ps, err := s.policyViews()
	if err != nil {
		s.log.Error("read policies", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "Try again later", "The policies could not be read from the ledger.")
		return
	}
	s.render(w, r, http.StatusOK, "policies", s.newView(r, c, "Policies", ps))
}

// policyPage is one policy's editor.
type policyPage struct {
	P       policyView
	Draft   string
	Checked bool
	Issues  []policy.Issue
	Errors  []string
}

func (s *Server) findPolicy(name string) (*policyView, error) {
	ps, err := s.policyViews()
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if ps[i].Name == name {
			return &ps[i], nil
		}
	}
	return nil, nil
}

func (s *Server) servePolicy(w http.ResponseWriter, r *http.Request, c *call) {
	p, err := s.findPolicy(r.PathValue("name"))
	if err != nil || p == nil {
		s.policyMissing(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "policy", s.newView(r, c, "Policy "+p.Name, &policyPage{P: *p, Draft: p.Rule}))
}

func (s *Server) policyMissing(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		s.log.Error("read policies", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "Try again later", "The policies could not be read from the ledger.")
		return
	}
	s.fail(w, r, http.StatusNotFound, "No such policy", "There is no policy with this name.")
}

// maxRuleBytes bounds a rule typed into the editor.
const maxRuleBytes = 16 << 10

// check type-checks a draft rule with the policy's environment, as the
// ledger will when the rule is set.
func (s *Server) check(name, draft string) []policy.Issue {
	if strings.TrimSpace(draft) == "" {
		return []policy.Issue{{Message: "the rule is empty: write a CEL expression that is true when the action is allowed"}}
	}
	if len(draft) > maxRuleBytes {
		return []policy.Issue{{Message: "the rule is too long"}}
	}
	var env *policy.Env
	for _, p := range s.deps.Machine.Policies() {
		if p.Name == name {
			env = p.Env
		}
	}
	if env == nil {
		env = contract.ActionEnv
	}
	err := s.deps.Machine.Engine().Check(env, draft)
	var ce *policy.CheckError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return ce.Issues
	}
	return []policy.Issue{{Message: "the rule could not be checked"}}
}

// postPolicy checks a draft (action=check) or checks and sets it
// (action=save) or restores the default (action=reset), each change a
// policy transaction the administrator signs.
func (s *Server) postPolicy(w http.ResponseWriter, r *http.Request, c *call) {
	p, err := s.findPolicy(r.PathValue("name"))
	if err != nil || p == nil {
		s.policyMissing(w, r, err)
		return
	}
	draft := strings.ReplaceAll(r.PostForm.Get("rule"), "\r\n", "\n")
	pg := &policyPage{P: *p, Draft: draft}
	switch r.PostForm.Get("action") {
	case "reset":
		b, _ := json.Marshal(contract.PolicySet{Name: p.Name})
		if err := s.submit(r.Context(), c, "policy", "reset", b); err != nil {
			pg.Errors = append(pg.Errors, err.Error())
			break
		}
		c.sess.addFlash("ok", "Policy "+p.Name+" is back to its default rule, from the next block on.")
		http.Redirect(w, r, "/app/admin/policies/"+url.PathEscape(p.Name), http.StatusSeeOther)
		return
	case "save":
		pg.Issues, pg.Checked = s.check(p.Name, draft), true
		if len(pg.Issues) > 0 {
			pg.Errors = append(pg.Errors, "The rule was not saved: fix the problems below first.")
			break
		}
		b, _ := json.Marshal(contract.PolicySet{Name: p.Name, Rule: draft})
		if err := s.submit(r.Context(), c, "policy", "set", b); err != nil {
			pg.Errors = append(pg.Errors, err.Error())
			break
		}
		c.sess.addFlash("ok", "Policy "+p.Name+" set on the ledger: the new rule applies from the next block on.")
		http.Redirect(w, r, "/app/admin/policies/"+url.PathEscape(p.Name), http.StatusSeeOther)
		return
	default:
		pg.Issues, pg.Checked = s.check(p.Name, draft), true
	}
	status := http.StatusOK
	if len(pg.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	s.render(w, r, status, "policy", s.newView(r, c, "Policy "+p.Name, pg))
}

// postPolicyCheck answers the editor's as-you-type check (htmx) with the
// check result fragment.
func (s *Server) postPolicyCheck(w http.ResponseWriter, r *http.Request, c *call) {
	p, err := s.findPolicy(r.PathValue("name"))
	if err != nil || p == nil {
		s.policyMissing(w, r, err)
		return
	}
	draft := strings.ReplaceAll(r.PostForm.Get("rule"), "\r\n", "\n")
	pg := &policyPage{P: *p, Draft: draft, Checked: true, Issues: s.check(p.Name, draft)}
	s.render(w, r, http.StatusOK, "policy_check", s.newView(r, c, "Policy "+p.Name, pg))
}

// modelView is a registered model version.
type modelView struct {
	*models.Record
	Metrics    []metric
	Parameters string
}

type metric struct {
	Name  string
	Value float64
}

// serveModels lists the registered AI model versions with their metrics.
func (s *Server) serveModels(w http.ResponseWriter, r *http.Request, c *call) {
	recs, err := scanJSON[models.Record](s.deps.State, "models/v/")
	if err != nil {
		s.log.Error("read models", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "Try again later", "The models could not be read from the ledger.")
		return
	}
	var out []modelView
	for _, m := range recs {
		mv := modelView{Record: m}
		for k, v := range m.Metrics {
			mv.Metrics = append(mv.Metrics, metric{k, v})
		}
		sort.Slice(mv.Metrics, func(i, j int) bool { return mv.Metrics[i].Name < mv.Metrics[j].Name })
		if len(m.Parameters) > 0 {
			mv.Parameters = string(m.Parameters)
		}
		out = append(out, mv)
	}
	slices.SortFunc(out, func(a, b modelView) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return b.Time.Compare(a.Time)
	})
	s.render(w, r, http.StatusOK, "models", s.newView(r, c, "AI models", out))
}
