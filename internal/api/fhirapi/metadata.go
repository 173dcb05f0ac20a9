package fhirapi

import (
	"net/http"
	"time"

	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/fhir/search"
)

// interactions lists the type-level and instance-level interactions this
// server implements for every supported type. The CapabilityStatement is
// built from it, so it never claims what the routes do not do; extend both
// together.
var interactions = []string{"read", "vread", "update", "delete", "history-instance", "history-type", "create", "search-type"}

func searchParams(t string) []any {
	var out []any
	for _, p := range search.Params(t) {
		out = append(out, map[string]any{"name": p.Name, "type": p.Type})
	}
	return out
}

// started is reported as the CapabilityStatement date.
var started = time.Now().UTC()

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	var resources []any
	for _, t := range fhir.SupportedTypes {
		var ia []any
		for _, code := range interactions {
			ia = append(ia, map[string]any{"code": code})
		}
		resources = append(resources, map[string]any{
			"type":              t,
			"profile":           "http://hl7.org/fhir/StructureDefinition/" + t,
			"interaction":       ia,
			"versioning":        "versioned-update",
			"readHistory":       true,
			"updateCreate":      true,
			"conditionalCreate": true,
			"searchParam":       searchParams(t),
			"searchInclude":     []string{t + ":patient", t + ":subject"},
			"conditionalUpdate": false,
			"conditionalDelete": "not-supported",
			"operation": append([]any{map[string]any{
				"name":       "verify",
				"definition": "urn:medledger:operation:verify",
				"documentation": "GET [type]/[id]/_history/[vid]/$verify: whether the stored version matches the hash " +
					"anchored on the ledger, with the anchoring transaction's RFC 6962 inclusion proof",
			}}, typeOperations(t)...),
		})
	}
	rest := map[string]any{
		"mode":        "server",
		"resource":    resources,
		"interaction": []any{map[string]any{"code": "transaction"}, map[string]any{"code": "batch"}},
		"operation": []any{map[string]any{
			"name":       "export",
			"definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
			"documentation": "GET [base]/$export with Prefer: respond-async; _type, _since; " +
				"NDJSON files kept an hour after completion or until DELETE of the status URL",
		}},
	}
	if a := s.deps.Auth; a != nil {
		// SMART App Launch: the security service and the OAuth URIs
		// (also at .well-known/smart-configuration).
		iss := a.Issuer.Issuer()
		rest["security"] = map[string]any{
			"cors": true,
			"service": []any{map[string]any{"coding": []any{map[string]any{
				"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}}}},
			"description": "SMART on FHIR: bearer access tokens (EdDSA JWT, at most 5 minutes) from " + iss + "/auth/token; " +
				"every access is decided by the patient's consents and the ledger's access rules, and audited on the ledger",
			"extension": []any{map[string]any{
				"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
				"extension": []any{
					map[string]any{"url": "token", "valueUri": iss + "/auth/token"},
					map[string]any{"url": "authorize", "valueUri": iss + "/auth/authorize"},
				},
			}},
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         started.Format(time.RFC3339),
		"publisher":    "medledger",
		"kind":         "instance",
		"software":     map[string]any{"name": "medledger"},
		"implementation": map[string]any{
			"description": "medledger FHIR server: every write validated, encrypted and anchored on the ledger",
			"url":         base(r),
		},
		"instantiates": []string{"http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"},
		"fhirVersion":  fhir.Version,
		"format":       []string{"application/fhir+json", "json"},
		"rest":         []any{rest},
	})
}

// typeOperations are the operations on a type besides $verify: $export at
// type level for every type; $everything and the patient-level $export on
// Patient.
func typeOperations(t string) []any {
	if t == "Patient" {
		return []any{
			map[string]any{
				"name":       "everything",
				"definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
				"documentation": "GET Patient/[id]/$everything: the patient and its compartment, with the Practitioners, " +
					"PractitionerRoles and Organizations they reference; _since, _type, _count (next links)",
			},
			map[string]any{
				"name":          "export",
				"definition":    "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
				"documentation": "GET Patient/$export with Prefer: respond-async: every patient's compartment; _type, _since",
			},
		}
	}
	return []any{map[string]any{
		"name":          "export",
		"definition":    "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
		"documentation": "GET " + t + "/$export with Prefer: respond-async: this type only; _since",
	}}
}
