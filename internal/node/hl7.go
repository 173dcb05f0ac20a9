package node

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/hl7v2"
)

// HL7 converts one HL7 v2 message (ADT^A01/A04/A08, ORU^R01) to a FHIR
// transaction Bundle and applies it through the node's own FHIR API, so it
// is validated, encrypted and anchored like any other write. It returns
// the HL7 acknowledgement (AA, or AE/AR with a reason that never quotes
// the message's content).
func (n *Node) HL7(ctx context.Context, raw []byte) []byte {
	m, err := hl7v2.Parse(raw)
	if err != nil {
		h, _ := hl7v2.ParseHeader(raw)
		return hl7v2.ACK(h, hl7v2.AckCode(err), err.Error())
	}
	bundle, _, err := hl7v2.Convert(m, hl7v2.Options{})
	if err != nil {
		return hl7v2.ACK(m, hl7v2.AckCode(err), err.Error())
	}
	if n.fhir == nil {
		return hl7v2.ACK(m, hl7v2.AE, "this node serves no FHIR records")
	}
	req := httptest.NewRequestWithContext(n.asService(ctx), http.MethodPost, "/fhir", bytes.NewReader(bundle))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Prefer", "return=minimal")
	rec := httptest.NewRecorder()
	n.fhir.api.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return hl7v2.ACK(m, hl7v2.AE, "the converted resources were refused: "+fhir.SummarizeOutcome(rec.Body.Bytes()))
	}
	return hl7v2.ACK(m, hl7v2.AA, "")
}

// ServeMLLP accepts HL7 v2 messages over MLLP on ln until ctx is done.
func (n *Node) ServeMLLP(ctx context.Context, ln net.Listener) error {
	s := &hl7v2.Server{
		Handler: n.HL7,
		Logf:    func(format string, args ...any) { n.log.Warn("mllp", "msg", fmt.Sprintf(format, args...)) },
	}
	return s.Serve(ctx, ln)
}

// ApplyBundle posts a FHIR transaction or batch Bundle to the node's own
// FHIR API in process (as import does over HTTP) and returns the HTTP
// status and body.
func (n *Node) ApplyBundle(ctx context.Context, bundle []byte) (int, []byte) {
	if n.fhir == nil {
		return http.StatusNotImplemented, nil
	}
	req := httptest.NewRequestWithContext(n.asService(ctx), http.MethodPost, "/fhir", bytes.NewReader(bundle))
	req.Header.Set("Content-Type", "application/fhir+json")
	rec := httptest.NewRecorder()
	n.fhir.api.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}
