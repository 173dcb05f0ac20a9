package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/home"
)

func newInitCmd(g *globals) *cobra.Command {
	var dir string
	var o home.InitOptions
	var asJSON, tlsDev bool
	var tlsHosts []string
	c := &cobra.Command{
		Use:   "init --home DIR",
		Short: "Create a node home: keys and a single-organisation development genesis",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.MasterKeyEnv = os.Getenv("MEDLEDGER_MASTER_KEY")
			doc, err := home.Init(dir, o)
			if err != nil {
				return err
			}
			if tlsDev {
				h := home.Home{Dir: dir}
				if err := h.DevCert(tlsHosts, time.Now()); err != nil {
					return err
				}
				cfg, _ := json.MarshalIndent(map[string]any{"tls_cert": h.TLSCert(), "tls_key": h.TLSKey()}, "", "  ")
				if err := os.WriteFile(h.Config(), append(cfg, '\n'), 0o600); err != nil {
					return err
				}
				fmt.Fprintf(g.stderr, "Wrote a self-signed development certificate (%s) and config.json to serve HTTPS;\nclients must trust it, e.g. curl --cacert %s\n", h.TLSCert(), h.TLSCert())
			}
			if asJSON {
				return printJSON(g.stdout, map[string]any{"home": dir, "chain_id": doc.ChainID, "genesis_hash": doc.Hash(), "admin": doc.Members[0].ID})
			}
			fmt.Fprintf(g.stdout, "Initialised %s\n  chain:   %s (genesis %s)\n  org:     %s\n  admin:   %s\nStart it with: medledger serve --home %s\n",
				dir, doc.ChainID, doc.Hash(), doc.Orgs[0].ID, doc.Members[0].ID, dir)
			return nil
		},
	}
	homeFlag(c, &dir, true)
	c.Flags().StringVar(&o.ChainID, "chain-id", "", "chain id (default medledger-dev)")
	c.Flags().StringVar(&o.OrgID, "org", "", "organisation id (default general-hospital)")
	c.Flags().StringVar(&o.OrgName, "org-name", "", "organisation name (default General Hospital)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	c.Flags().BoolVar(&tlsDev, "tls", false, "also make a self-signed development TLS certificate and serve HTTPS")
	c.Flags().StringSliceVar(&tlsHosts, "tls-host", nil, "extra host names or addresses for the development certificate")
	return c
}
