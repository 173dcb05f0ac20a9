package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/node"
)

// nodeFlags are the flags that override node configuration.
type nodeFlags struct {
	addr      string
	mllp      string
	maxTxs    int
	maxDelay  time.Duration
	queueSize int
	consensus string
	tlsCert   string
	tlsKey    string
}

func (f *nodeFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.addr, "addr", "", "HTTP listen address (env MEDLEDGER_ADDR; default "+node.DefaultAddr+")")
	c.Flags().StringVar(&f.mllp, "mllp", "", "also accept HL7 v2 over MLLP on this address, e.g. 127.0.0.1:2575 (env MEDLEDGER_MLLP_ADDR)")
	c.Flags().StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate (env MEDLEDGER_TLS_CERT; init --tls makes a development one)")
	c.Flags().StringVar(&f.tlsKey, "tls-key", "", "the PEM private key of --tls-cert (env MEDLEDGER_TLS_KEY)")
	c.Flags().IntVar(&f.maxTxs, "max-txs", 0, "most transactions per block (env MEDLEDGER_MAX_TXS; default 2000)")
	c.Flags().DurationVar(&f.maxDelay, "max-delay", 0, "longest wait to fill a block (env MEDLEDGER_MAX_DELAY; default 2ms)")
	c.Flags().IntVar(&f.queueSize, "queue-size", 0, "most transactions awaiting commit before answering 503 (env MEDLEDGER_QUEUE_SIZE; default 50000)")
	c.Flags().StringVar(&f.consensus, "consensus", "", "ordering: solo or cometbft (env MEDLEDGER_CONSENSUS; default: what the genesis names, else solo)")
}

// loadConfig builds the node configuration: defaults < config.json in the
// home < MEDLEDGER_* environment < flags. Every problem is reported at once.
func loadConfig(c *cobra.Command, dir string, f *nodeFlags) (node.Config, error) {
	cfg := node.Config{Home: dir}
	var errs []error
	h := home.Home{Dir: dir}
	if b, err := os.ReadFile(h.Config()); err == nil {
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		if err := d.Decode(&cfg); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", h.Config(), err))
		}
		cfg.Home = dir
	} else if !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	env := func(k string, apply func(string) error) {
		if v := os.Getenv(k); v != "" {
			if err := apply(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", k, v, err))
			}
		}
	}
	atoi := func(dst *int) func(string) error {
		return func(s string) error { n, err := strconv.Atoi(s); *dst = n; return err }
	}
	env("MEDLEDGER_ADDR", func(s string) error { cfg.Addr = s; return nil })
	env("MEDLEDGER_MLLP_ADDR", func(s string) error { cfg.MLLPAddr = s; return nil })
	env("MEDLEDGER_TLS_CERT", func(s string) error { cfg.TLSCert = s; return nil })
	env("MEDLEDGER_TLS_KEY", func(s string) error { cfg.TLSKey = s; return nil })
	env("MEDLEDGER_CONSENSUS", func(s string) error { cfg.Consensus = s; return nil })
	env("MEDLEDGER_MAX_TXS", atoi(&cfg.Solo.MaxTxs))
	env("MEDLEDGER_QUEUE_SIZE", atoi(&cfg.Solo.QueueSize))
	env("MEDLEDGER_MAX_DELAY", func(s string) error {
		d, err := time.ParseDuration(s)
		cfg.Solo.MaxDelay = node.Duration(d)
		return err
	})
	cfg.MasterKeyEnv = os.Getenv("MEDLEDGER_MASTER_KEY")
	if f != nil {
		fl := c.Flags()
		if fl.Changed("addr") {
			cfg.Addr = f.addr
		}
		if fl.Changed("mllp") {
			cfg.MLLPAddr = f.mllp
		}
		if fl.Changed("tls-cert") {
			cfg.TLSCert = f.tlsCert
		}
		if fl.Changed("tls-key") {
			cfg.TLSKey = f.tlsKey
		}
		if fl.Changed("max-txs") {
			cfg.Solo.MaxTxs = f.maxTxs
		}
		if fl.Changed("max-delay") {
			cfg.Solo.MaxDelay = node.Duration(f.maxDelay)
		}
		if fl.Changed("queue-size") {
			cfg.Solo.QueueSize = f.queueSize
		}
		if fl.Changed("consensus") {
			cfg.Consensus = f.consensus
		}
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return cfg, fmt.Errorf("invalid configuration:\n%w", errors.Join(errs...))
	}
	return cfg, nil
}
