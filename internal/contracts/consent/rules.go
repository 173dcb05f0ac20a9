package consent

import "github.com/medledger/medledger/internal/policy"

// AccessEnv is the environment of the access rules:
//
//	actor:       {id, org, roles (list), context ("patient", "user" or
//	              "system": the token's scope level), patient (the pseudonym
//	              of the actor's own or launch patient, "" if none),
//	              fhir_user ("Practitioner/123", "" if none)}
//	request:     {interaction (read, vread, history, search, create,
//	              update, delete, export, everything), type, purpose
//	              (a v3 ActReason code; TREAT unless stated), custodian
//	              (the organisation whose node holds the record)}
//	patient:     {id (pseudonym, "" when the resource is in no patient's
//	              compartment), in_compartment (bool), treatment_allowed
//	              (bool: no active consent denies treatment access to all),
//	              erased (bool)}
//	consent:     {permitted, denied (bool: an active provision matching
//	              actor, purpose, type, action and time), permit_id, deny_id}
//	care:        {active (bool), source ("Encounter/123")}
//	break_glass: {active (bool), until (timestamp)}
//	now:         the decision time
var AccessEnv = mustEnv(
	policy.Var{Name: "actor", Type: policy.Map, Doc: "who asks: id, org, roles, context, patient, fhir_user"},
	policy.Var{Name: "request", Type: policy.Map, Doc: "interaction, type, purpose, custodian"},
	policy.Var{Name: "patient", Type: policy.Map, Doc: "id, in_compartment, treatment_allowed, erased"},
	policy.Var{Name: "consent", Type: policy.Map, Doc: "permitted, denied, permit_id, deny_id"},
	policy.Var{Name: "care", Type: policy.Map, Doc: "active, source"},
	policy.Var{Name: "break_glass", Type: policy.Map, Doc: "active, until"},
	policy.Var{Name: "now", Type: policy.Timestamp, Doc: "the decision time"},
)

func mustEnv(vars ...policy.Var) *policy.Env {
	e, err := policy.NewEnv(vars...)
	if err != nil {
		panic(err)
	}
	return e
}

// Effects of access rules.
const (
	EffectDeny   = "deny"
	EffectPermit = "permit"
)

// AccessRule is one named access rule. Its condition is a CEL policy
// stored on the ledger under Name, so operators can change it.
type AccessRule struct {
	Name    string
	Effect  string
	Doc     string
	Default string
}

// AccessRules are evaluated deny rules first: any true deny rule denies
// (deny overrides permit); otherwise the first true permit rule permits;
// otherwise access is denied ("no rule permits").
var AccessRules = []AccessRule{
	{Name: "consent.deny.patient", Effect: EffectDeny,
		Doc:     "a patient's consent denies this access, and no emergency was declared (a consent binds others: not the patient's own access, nor the audit trail)",
		Default: `patient.in_compartment && consent.denied && !break_glass.active && request.type != "AuditEvent" && (actor.patient == "" || actor.patient != patient.id)`},
	{Name: "consent.deny.erased", Effect: EffectDeny,
		Doc:     "the patient's data was erased",
		Default: `patient.erased`},
	{Name: "consent.deny.custom", Effect: EffectDeny,
		Doc:     "operators' own deny conditions",
		Default: `false`},
	{Name: "consent.permit.self", Effect: EffectPermit,
		Doc:     "patients may see their own record",
		Default: `patient.in_compartment && actor.patient != "" && actor.patient == patient.id && request.interaction in ["read", "vread", "history", "search", "everything", "export"]`},
	{Name: "consent.permit.own_consent", Effect: EffectPermit,
		Doc:     "patients may record, change and revoke their own consents",
		Default: `patient.in_compartment && actor.patient != "" && actor.patient == patient.id && request.type == "Consent" && request.interaction in ["create", "update"]`},
	{Name: "consent.permit.consent", Effect: EffectPermit,
		Doc:     "a patient's consent permits this access",
		Default: `patient.in_compartment && consent.permitted && !(request.type in ["AuditEvent", "Consent"])`},
	{Name: "consent.permit.care", Effect: EffectPermit,
		Doc:     "an active care relationship (encounter or care team) names the practitioner, and the patient allows treatment access",
		Default: `patient.in_compartment && care.active && patient.treatment_allowed && request.purpose == "TREAT" && !(request.type in ["AuditEvent", "Consent"])`},
	{Name: "consent.permit.break_glass", Effect: EffectPermit,
		Doc:     "a practitioner declared an emergency for this patient (time-boxed, flagged for review)",
		Default: `patient.in_compartment && break_glass.active && "practitioner" in actor.roles && !(request.type in ["AuditEvent", "Consent"])`},
	{Name: "consent.permit.admit", Effect: EffectPermit,
		Doc:     "practitioners may register patients (care relationships come from the organisation's systems or from clinicians already caring for the patient)",
		Default: `request.interaction == "create" && request.type == "Patient" && "practitioner" in actor.roles`},
	{Name: "consent.permit.system", Effect: EffectPermit,
		Doc:     "the organisation's own backend services (system scopes)",
		Default: `actor.context == "system" && actor.org == request.custodian && ("system" in actor.roles || "admin" in actor.roles) && request.type != "AuditEvent"`},
	{Name: "consent.permit.directory", Effect: EffectPermit,
		Doc:     "authenticated staff may read records of no patient (practitioners, organisations)",
		Default: `!patient.in_compartment && request.type != "AuditEvent" && actor.patient == "" && actor.org == request.custodian && request.interaction in ["read", "vread", "history", "search"]`},
	{Name: "consent.permit.audit", Effect: EffectPermit,
		Doc:     "auditors may read the audit trail",
		Default: `request.type == "AuditEvent" && "auditor" in actor.roles && request.interaction in ["read", "search"]`},
	{Name: "consent.permit.custom", Effect: EffectPermit,
		Doc:     "operators' own permit conditions",
		Default: `false`},
}
