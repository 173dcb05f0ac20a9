package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/auth"
	"github.com/medledger/medledger/internal/node"
)

func newTokenCmd(g *globals) *cobra.Command {
	var dir, as, scope, patient, addr string
	var ttl time.Duration
	var asJSON bool
	c := &cobra.Command{
		Use:   "token --home DIR --scope SCOPES [--as MEMBER] [--patient ID]",
		Short: "Mint an access token offline, for operators' scripts and tests",
		Long: "token signs a short-lived (at most 5 minutes) access token with the node's token key, derived\n" +
			"from its master key, so it works without the node running. --as defaults to the administrator of\n" +
			"the node's organisation; a member enrolled after genesis is looked up on the running node.\n" +
			"Scopes use SMART v1 or v2 syntax, e.g. \"user/*.rs\", \"patient/Observation.rs\", \"system/*.cruds\".\n\n" +
			"Example:\n  TOKEN=$(medledger token --home /tmp/h --scope 'user/*.cruds')\n" +
			"  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8740/fhir/Patient",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if dir == "" {
				dir = envOr("MEDLEDGER_HOME", "")
			}
			if dir == "" {
				return fmt.Errorf("--home DIR is required (or MEDLEDGER_HOME)")
			}
			if scope == "" {
				return fmt.Errorf("--scope is required, e.g. --scope 'user/*.rs'")
			}
			if _, err := auth.ParseScopes(scope); err != nil {
				return err
			}
			if ttl <= 0 || ttl > auth.MaxTokenLifetime {
				return fmt.Errorf("--ttl must be between 1s and %v", auth.MaxTokenLifetime)
			}
			cfg, err := loadConfig(c, dir, nil)
			if err != nil {
				return err
			}
			if addr != "" {
				cfg.Addr = addr // the audience is the address the node serves
			}
			req := node.TokenRequest{Member: as, Scope: scope, Patient: patient, TTL: ttl}
			tok, p, err := node.MintToken(cfg, req)
			if err != nil && as != "" && strings.Contains(err.Error(), "not in the genesis") {
				// Enrolled later: ask the running node for the record.
				m, ferr := fetchMember(c.Context(), cfg, as)
				if ferr != nil {
					return fmt.Errorf("%v; looking it up on the node at %s: %v", err, cfg.Addr, ferr)
				}
				req.Known = m
				tok, p, err = node.MintToken(cfg, req)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(g.stdout, map[string]any{
					"access_token": tok, "token_type": "Bearer", "expires_in": int(time.Until(p.Expiry).Seconds()),
					"scope": p.Scopes.String(), "member": p.Member, "patient": p.Patient,
				})
			}
			fmt.Fprintln(g.stdout, tok)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "home", "", "node home directory (env MEDLEDGER_HOME)")
	c.Flags().StringVar(&as, "as", "", "the member the token is for (default: the organisation's administrator)")
	c.Flags().StringVar(&scope, "scope", "", "space-separated SMART scopes")
	c.Flags().StringVar(&patient, "patient", "", "FHIR id of the patient in context (patient/ scopes)")
	c.Flags().StringVar(&addr, "addr", "", "the address the node serves, when not its configured one (the token's audience names it)")
	c.Flags().DurationVar(&ttl, "ttl", auth.MaxTokenLifetime, "lifetime, at most 5m")
	c.Flags().BoolVar(&asJSON, "json", false, "print an OAuth2 token response as JSON")
	return c
}

// fetchMember reads a member record from the running node's ledger API.
func fetchMember(ctx context.Context, cfg node.Config, id string) (*node.TokenMember, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = node.DefaultAddr
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+"/v1/members/"+id, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s", resp.Status)
	}
	var m struct {
		ID       string   `json:"id"`
		Org      string   `json:"org"`
		Roles    []string `json:"roles"`
		Status   string   `json:"status"`
		FHIRUser string   `json:"fhir_user"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, err
	}
	if m.Status != "active" {
		return nil, fmt.Errorf("member %s is %s", id, m.Status)
	}
	return &node.TokenMember{ID: m.ID, Org: m.Org, Roles: m.Roles, FHIRUser: m.FHIRUser}, nil
}
