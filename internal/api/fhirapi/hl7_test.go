package fhirapi_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/hl7v2"
)

// An ADT^A01 over MLLP becomes a Patient and an Encounter, anchored like
// any write, and is acknowledged AA; a broken message is acknowledged AR.
func TestHL7OverMLLP(t *testing.T) {
	s := newServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.n.ServeMLLP(ctx, ln)
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	a01 := strings.Join([]string{
		`MSH|^~\&|ADTSYS|GOODHEALTH|MEDLEDGER|MEDLEDGER|20240315083000+0100||ADT^A01^ADT_A01|MSG00001|P|2.5.1`,
		`EVN|A01|20240315083000+0100`,
		`PID|1||123456^^^GOODHEALTH&2.16.840.1.113883.19.5&ISO^MR||Testpatient^Jane^Q.||19800229|F`,
		`PV1|1|I|4E^401^B^GOODHEALTH||||1234^Attending^Alice^^^Dr.^^^NPI||||||||||||VN0001^^^GOODHEALTH^VN`,
	}, "\r") + "\r"
	ack, err := hl7v2.Send(conn, []byte(a01))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ack), "MSA|AA|MSG00001") {
		t.Fatalf("ACK = %q; want AA", ack)
	}
	_, b := s.do("GET", "/Patient?identifier=urn:oid:2.16.840.1.113883.19.5|123456", "")
	if b["total"] != float64(1) {
		t.Fatalf("patient from ADT^A01 not found: %v", b)
	}
	_, b = s.do("GET", "/Encounter?_count=5", "")
	if b["total"] != float64(1) {
		t.Errorf("encounter from ADT^A01 not found: %v", b)
	}
	// Re-sending the same message is idempotent.
	if ack, _ := hl7v2.Send(conn, []byte(a01)); !strings.Contains(string(ack), "MSA|AA") {
		t.Fatalf("re-sent ACK = %q", ack)
	}
	if _, b := s.do("GET", "/Patient", ""); b["total"] != float64(1) {
		t.Errorf("re-sending created duplicates: %v", b["total"])
	}
	bad := strings.Replace(a01, "ADT^A01^ADT_A01", "ADT^A03", 1)
	ack, _ = hl7v2.Send(conn, []byte(bad))
	if !strings.Contains(string(ack), "MSA|AR") || strings.Contains(string(ack), "Testpatient") {
		t.Errorf("unsupported message ACK = %q; want AR without PHI", ack)
	}
}
