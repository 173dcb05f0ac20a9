package cli

import (
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/node"
)

func newServeCmd(g *globals) *cobra.Command {
	var dir string
	var f nodeFlags
	c := &cobra.Command{
		Use:   "serve --home DIR [--addr HOST:PORT] [--consensus solo|cometbft]",
		Short: "Run a node (solo ordering, or a validator or full node of a CometBFT consortium) and serve its HTTP API",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			cfg, err := loadConfig(c, dir, &f)
			if err != nil {
				return err
			}
			n, err := node.Open(cfg, log)
			if err != nil {
				return err
			}
			defer n.Close()
			addr := cfg.Addr
			if addr == "" {
				addr = node.DefaultAddr
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w (choose another with --addr)", addr, err)
			}
			n.Start()
			if cfg.MLLPAddr != "" {
				ml, err := net.Listen("tcp", cfg.MLLPAddr)
				if err != nil {
					return fmt.Errorf("MLLP listen on %s: %w", cfg.MLLPAddr, err)
				}
				go func() {
					if err := n.ServeMLLP(c.Context(), ml); err != nil {
						log.Error("MLLP listener stopped", "err", err)
					}
				}()
				log.Info("accepting HL7 v2 over MLLP", "addr", ml.Addr().String())
			}
			log.Info("serving", "addr", ln.Addr().String(), "chain_id", n.Genesis().ChainID, "height", n.Store().Height(), "node_key", n.KeyID(), "consensus", n.Consensus())
			return n.Serve(c.Context(), ln)
		},
	}
	homeFlag(c, &dir, true)
	f.register(c)
	return c
}
