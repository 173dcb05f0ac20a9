// Package cli implements the medledger command line: one binary with
// subcommands (init, serve, demo, verify, proof, backup, restore, bench).
// It parses flags, environment and config files into the node's
// configuration and prints results for people (or JSON with --json); the
// work itself happens in the node and client packages.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Version is set by the build (-ldflags "-X ...cli.Version=...").
var Version = "dev"

// Run executes the command line args (without the program name) and
// returns the process exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tuneRuntime()
	return RunContext(ctx, args, stdout, stderr)
}

// RunContext is Run with a caller-controlled context: cancelling it stops
// long-running commands (serve, demo) as Ctrl-C would.
func RunContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(stderr, "medledger:", ee.msg)
			}
			return ee.code
		}
		fmt.Fprintln(stderr, "medledger:", err)
		return 1
	}
	return 0
}

// exitError ends the program with a code (and an optional message).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

type globals struct {
	stdout, stderr io.Writer
	logLevel       string
	logFormat      string
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "medledger",
		Short:         "A healthcare data platform on a permissioned ledger",
		Long:          "medledger keeps a signed, Merkle-proven ledger of who wrote, read and shared what.\nStart with: medledger demo",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", envOr("MEDLEDGER_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env MEDLEDGER_LOG_LEVEL)")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", envOr("MEDLEDGER_LOG_FORMAT", ""), "log format: text or json (default: text on a terminal, json otherwise)")
	root.AddCommand(
		newInitCmd(g), newServeCmd(g), newDemoCmd(g), newVerifyCmd(g), newBenchCmd(g), newProofCmd(g), newBackupCmd(g), newRestoreCmd(g), newKeyCmd(g), newTokenCmd(g), newEraseCmd(g), newSynthCmd(g), newImportCmd(g), newTestnetCmd(g), newJoinCmd(g), newNodeIDCmd(g),
		newDetectCmd(g), newEvalCmd(g), newModelsCmd(g), newValidatorCmd(g),
	)
	return root
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (g *globals) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	format := g.logFormat
	if format == "" {
		format = "json"
		if isTerminal(g.stderr) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(g.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(g.stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// homeFlag registers --home (env MEDLEDGER_HOME).
func homeFlag(c *cobra.Command, dst *string, required bool) {
	help := "node home directory (env MEDLEDGER_HOME)"
	c.Flags().StringVar(dst, "home", os.Getenv("MEDLEDGER_HOME"), help)
	if required {
		c.PreRunE = chainPreRun(c.PreRunE, func(*cobra.Command, []string) error {
			if strings.TrimSpace(*dst) == "" {
				return errors.New("--home DIR is required (or set MEDLEDGER_HOME)")
			}
			return nil
		})
	}
}

func chainPreRun(a, b func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		if a != nil {
			if err := a(c, args); err != nil {
				return err
			}
		}
		return b(c, args)
	}
}
