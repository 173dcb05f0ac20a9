package node_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/node"
)

func TestAuthOffOnlyOnLoopback(t *testing.T) {
	th := newHome(t)
	_, err := node.Open(node.Config{Home: th.home.Dir, Addr: "0.0.0.0:8740", Auth: node.AuthConfig{Mode: node.AuthOff}}, nil)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("auth off on 0.0.0.0: %v; want a refusal naming loopback", err)
	}
	if _, err := node.Open(node.Config{Home: th.home.Dir, Auth: node.AuthConfig{Mode: "maybe"}}, nil); err == nil {
		t.Fatal("an unknown auth mode was accepted")
	}
}

// TestTLSTokensRotation serves HTTPS with a development certificate, uses
// a token minted offline, and rotates the records' keys while serving.
func TestTLSTokensRotation(t *testing.T) {
	th := newHome(t)
	if err := th.home.DevCert(nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.Config{Home: th.home.Dir, Addr: ln.Addr().String(), TLSCert: th.home.TLSCert(), TLSKey: th.home.TLSKey()}
	n, err := node.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- n.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-served; n.Close() })

	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(th.home.TLSCert())
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	base := "https://" + ln.Addr().String()

	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		// Go's TLS server answers plain HTTP with a 400, not a connection error.
		resp, _ := http.Get("http://" + ln.Addr().String() + "/healthz")
		if resp != nil && resp.StatusCode == 200 {
			t.Error("plain HTTP was served")
		}
	}
	tok, p, err := node.MintToken(cfg, node.TokenRequest{Scope: "system/*.cruds"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Member != th.adminID || !p.Expiry.After(time.Now()) {
		t.Errorf("offline token for %q expiring %v", p.Member, p.Expiry)
	}
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != "" {
			req.Header.Set("Content-Type", "application/fhir+json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := do("POST", "/fhir/Patient", `{"resourceType":"Patient","gender":"male"}`)
	if st != 201 {
		t.Fatalf("create over HTTPS with an offline token: %d %s", st, body)
	}
	id := body[strings.Index(body, `"id":"`)+6:]
	id = id[:strings.Index(id, `"`)]

	for _, patient := range []string{"", id} {
		res, err := node.RotateKeys(context.Background(), th.home, patient)
		if err != nil {
			t.Fatalf("rotate (patient %q): %v", patient, err)
		}
		if (patient == "") != (res.Rotated == "kek") {
			t.Errorf("rotate (patient %q) = %+v", patient, res)
		}
		if st, body := do("GET", "/fhir/Patient/"+id, ""); st != 200 {
			t.Errorf("read after rotating (patient %q): %d %s", patient, st, body)
		}
	}
	if st, _ := do("PUT", "/fhir/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`","gender":"other"}`); st != 200 {
		t.Errorf("update after rotating the data key: %d", st)
	}
	if st, _ := do("GET", "/fhir/Patient/"+id+"/_history/1", ""); st != 200 {
		t.Errorf("old version after rotating the data key: %d", st)
	}
}
