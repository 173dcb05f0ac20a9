package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/contracts/consent"
	"github.com/medledger/medledger/internal/node"
)

func newEraseCmd(g *globals) *cobra.Command {
	var dir, patient, reason, as string
	var asJSON bool
	c := &cobra.Command{
		Use:   "erase --home DIR --patient ID --reason CODE",
		Short: "Erase a patient's data by destroying their keys (right to erasure), on the running node",
		Long: "erase asks the running node to crypto-shred a patient: an erasure record (who, which patient\n" +
			"pseudonym, why, when) is committed on the ledger, then the patient's keys are destroyed, so no\n" +
			"version of their records can be decrypted on this node again. The ledger still verifies: it only\n" +
			"ever held hashes and pseudonyms. It cannot be undone.\n\n" +
			"Reasons: " + strings.Join(consent.EraseReasons, ", "),
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if dir == "" {
				dir = envOr("MEDLEDGER_HOME", "")
			}
			if dir == "" || patient == "" || reason == "" {
				return fmt.Errorf("--home, --patient and --reason are required")
			}
			cfg, err := loadConfig(c, dir, nil)
			if err != nil {
				return err
			}
			tok, _, err := node.MintToken(cfg, node.TokenRequest{Member: as, Scope: "user/Patient.d", TTL: time.Minute})
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": []any{map[string]any{"name": "reason", "valueCode": reason}}})
			out, status, err := postFHIR(c.Context(), cfg, "/fhir/Patient/"+patient+"/$erase", tok, body)
			if err != nil {
				return fmt.Errorf("%v (is the node running? start it with medledger serve --home %s)", err, dir)
			}
			if asJSON {
				_, err := g.stdout.Write(out)
				if status != http.StatusOK {
					return &exitError{code: 1}
				}
				return err
			}
			var oo struct {
				Issue []struct {
					Diagnostics string `json:"diagnostics"`
				} `json:"issue"`
			}
			json.Unmarshal(out, &oo)
			msg := strings.TrimSpace(string(out))
			if len(oo.Issue) > 0 {
				msg = oo.Issue[0].Diagnostics
			}
			if status != http.StatusOK {
				return fmt.Errorf("erasure refused (%d): %s", status, msg)
			}
			fmt.Fprintln(g.stdout, "Erased:", msg)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "home", "", "node home directory (env MEDLEDGER_HOME)")
	c.Flags().StringVar(&patient, "patient", "", "FHIR id of the Patient to erase")
	c.Flags().StringVar(&reason, "reason", "", "why: "+strings.Join(consent.EraseReasons, ", "))
	c.Flags().StringVar(&as, "as", "", "the administrator asking (default: the organisation's administrator)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the node's answer as JSON")
	return c
}

// postFHIR posts a FHIR body to the running node with a bearer token.
func postFHIR(ctx context.Context, cfg node.Config, path, token string, body []byte) ([]byte, int, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = node.DefaultAddr
	}
	hc := &http.Client{Timeout: 60 * time.Second}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
		pool := x509.NewCertPool()
		if pem, err := os.ReadFile(cfg.TLSCert); err == nil {
			pool.AppendCertsFromPEM(pem)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, scheme+"://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return out, resp.StatusCode, err
}
