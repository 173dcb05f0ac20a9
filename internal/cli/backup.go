package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/node"
)

func newBackupCmd(g *globals) *cobra.Command {
	var dir, out string
	c := &cobra.Command{
		Use:   "backup --home DIR --out FILE",
		Short: "Write a consistent snapshot of the ledger, also while the node serves",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out FILE is required")
			}
			tmp := out + ".partial"
			f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			err = node.Backup(c.Context(), home.Home{Dir: dir}, f)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(tmp)
				return err
			}
			if err := os.Rename(tmp, out); err != nil {
				return err
			}
			fi, _ := os.Stat(out)
			fmt.Fprintf(g.stdout, "snapshot written to %s (%d bytes)\nRestore it with: medledger restore --home DIR --in %s\n", out, fi.Size(), filepath.Base(out))
			return nil
		},
	}
	homeFlag(c, &dir, true)
	c.Flags().StringVar(&out, "out", "", "snapshot file to write (.tar.gz)")
	return c
}

func newRestoreCmd(g *globals) *cobra.Command {
	var dir, in string
	var force, asJSON bool
	c := &cobra.Command{
		Use:   "restore --home DIR --in FILE [--force]",
		Short: "Install a snapshot after verifying it completely; a snapshot that fails is refused",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if in == "" {
				return fmt.Errorf("--in FILE is required")
			}
			f, err := os.Open(in)
			if err != nil {
				return err
			}
			defer f.Close()
			upd, fin := progress(g.stderr, "verifying snapshot")
			rep, err := node.Restore(c.Context(), home.Home{Dir: dir}, f, node.RestoreOptions{Force: force, Progress: func(d, l uint64) { upd(int(d), int(l)) }})
			fin()
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(g.stdout, rep)
			}
			fmt.Fprintf(g.stdout, "restored and verified: %d blocks, %d transactions (app hash %s)\n", rep.Height, rep.Txs, rep.AppHash)
			return nil
		},
	}
	homeFlag(c, &dir, true)
	c.Flags().StringVar(&in, "in", "", "snapshot file written by medledger backup")
	c.Flags().BoolVar(&force, "force", false, "replace an existing ledger in the home")
	c.Flags().BoolVar(&asJSON, "json", false, "print the verification report as JSON")
	return c
}
