package fhirapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/contracts/records"
)

// provenance answers GET [type]/[id]/_history/[vid]/$provenance: the FHIR
// Provenance of one version, built from its ledger anchor. Every write is
// anchored (who, on behalf of which organisation, when, which operation,
// the SHA-256 of the exact content), so the anchor is the provenance kept
// for each write; this renders it as the standard resource, with the
// anchoring transaction as its signature's data reference.
func (s *Server) provenance(w http.ResponseWriter, r *http.Request) {
	typ, id, v, e := s.versionPath(r)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	g, ok := s.scope(w, r, access.VRead, typ)
	if !ok {
		return
	}
	a, err := s.deps.Service.Anchor(typ, id, v)
	patient := ""
	if a != nil {
		patient = a.Patient
	}
	if !s.gate(w, r, g, typ+"/"+id+"/_history/"+strconv.FormatUint(v, 10), patient, err == nil) {
		return
	}
	if err != nil {
		s.fail(w, r, s.classify(err))
		return
	}
	activity := map[string]string{records.OpCreate: "CREATE", records.OpUpdate: "UPDATE", records.OpDelete: "DELETE"}[a.Op]
	org, _, _ := strings.Cut(a.Signer, "/")
	if a.Org != "" {
		org = a.Org
	}
	prov := map[string]any{
		"resourceType": "Provenance",
		"id":           typ + "-" + id + "-" + strconv.FormatUint(v, 10),
		"target":       []any{map[string]any{"reference": typ + "/" + id + "/_history/" + strconv.FormatUint(v, 10)}},
		"recorded":     a.Time.UTC().Format(time.RFC3339Nano),
		"activity": map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": activity,
		}}},
		"agent": []any{
			map[string]any{
				"type": map[string]any{"coding": []any{map[string]any{
					"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author",
				}}},
				"who":        map[string]any{"identifier": map[string]any{"system": "urn:medledger:member", "value": a.Author}},
				"onBehalfOf": map[string]any{"identifier": map[string]any{"system": "urn:medledger:org", "value": org}},
			},
			map[string]any{
				"type": map[string]any{"coding": []any{map[string]any{
					"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "custodian",
				}}},
				"who": map[string]any{"identifier": map[string]any{"system": "urn:medledger:member", "value": a.Signer}},
			},
		},
		"signature": []any{map[string]any{
			"type": []any{map[string]any{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.14", "display": "Source Signature"}},
			"when": a.Time.UTC().Format(time.RFC3339Nano),
			"who":  map[string]any{"identifier": map[string]any{"system": "urn:medledger:member", "value": a.Signer}},
			// The anchoring transaction: fetch it with its inclusion proof
			// from the ledger API (/v1/tx/{hash}) or $verify.
			"targetFormat": "application/fhir+json",
			"sigFormat":    "application/vnd.medledger.tx",
			"data":         base64.StdEncoding.EncodeToString(a.Tx[:]), // the transaction id's 32 bytes
		}},
	}
	if a.Hash != "" {
		prov["entity"] = []any{map[string]any{
			"role": "source",
			"what": map[string]any{"identifier": map[string]any{"system": "urn:medledger:sha256", "value": a.Hash}},
		}}
	}
	writeJSON(w, http.StatusOK, prov)
}
