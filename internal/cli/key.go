package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/node"
)

func newKeyCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "key", Short: "Create and inspect member signing keys; rotate the records' keys"}
	var out, passFile string
	var asJSON bool
	newCmd := &cobra.Command{
		Use:   "new --out FILE --passphrase-file FILE",
		Short: "Create an Ed25519 signing key, encrypted under a passphrase (scrypt, AES-256-GCM), mode 0600",
		Long: "key new creates a member's signing key on the member's own machine and prints its public key,\n" +
			"which an organisation admin enrols (members.enrol) or installs (members.rekey). The private key\n" +
			"never leaves the file, which is encrypted under the passphrase read from --passphrase-file\n" +
			"(or the environment variable MEDLEDGER_PASSPHRASE).",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out FILE is required")
			}
			pass, err := readPassphrase(passFile)
			if err != nil {
				return err
			}
			k, err := identity.GenerateKey()
			if err != nil {
				return err
			}
			if err := identity.WriteKeyFile(out, k, identity.Passphrase(pass)); err != nil {
				return err
			}
			info := map[string]string{"file": out, "key_id": k.KeyID(), "public_key": identity.EncodePublicKey(k.Public())}
			if asJSON {
				return printJSON(g.stdout, info)
			}
			fmt.Fprintf(g.stdout, "key written to %s (mode 0600, passphrase-encrypted)\n  key id:     %s\n  public key: %s\nGive the public key to your organisation's admin to enrol you.\n", out, info["key_id"], info["public_key"])
			return nil
		},
	}
	newCmd.Flags().StringVar(&out, "out", "", "key file to create (refuses to overwrite)")
	newCmd.Flags().StringVar(&passFile, "passphrase-file", "", "file holding the passphrase (first line)")
	newCmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	var in string
	showCmd := &cobra.Command{
		Use:   "show --in FILE --passphrase-file FILE",
		Short: "Decrypt a key file and print its key id and public key (never the private key)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			pass, err := readPassphrase(passFile)
			if err != nil {
				return err
			}
			k, err := identity.ReadKeyFile(in, identity.Passphrase(pass))
			if err != nil {
				return err
			}
			return printJSON(g.stdout, map[string]string{"file": in, "key_id": k.KeyID(), "public_key": identity.EncodePublicKey(k.Public())})
		},
	}
	showCmd.Flags().StringVar(&in, "in", "", "key file")
	showCmd.Flags().StringVar(&passFile, "passphrase-file", "", "file holding the passphrase (first line)")
	c.AddCommand(newCmd, showCmd, newKeyRotateCmd(g))
	return c
}

// readPassphrase reads the first line of path, or MEDLEDGER_PASSPHRASE.
func readPassphrase(path string) ([]byte, error) {
	var p []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		p, _, _ = bytes.Cut(b, []byte("\n"))
	} else {
		p = []byte(os.Getenv("MEDLEDGER_PASSPHRASE"))
	}
	p = bytes.TrimRight(p, "\r")
	if len(p) < 12 {
		return nil, errors.New("a passphrase of at least 12 characters is required (--passphrase-file FILE or MEDLEDGER_PASSPHRASE)")
	}
	return p, nil
}

func newKeyRotateCmd(g *globals) *cobra.Command {
	var dir, patient string
	var asJSON bool
	c := &cobra.Command{
		Use:   "rotate --home DIR [--patient ID]",
		Short: "Rotate the records' key-encryption key (or one patient's data key) while the node serves",
		Long: "key rotate asks the running node, through its admin socket, to make a new key-encryption key and\n" +
			"re-wrap every data key under it (records are not re-encrypted; no downtime). With --patient it\n" +
			"rotates that patient's data key instead: new versions are encrypted under the new key, older\n" +
			"ones stay readable. The master key itself rotates by re-encrypting the home's key files with a\n" +
			"new one (see the README's key hierarchy).",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if dir == "" {
				dir = envOr("MEDLEDGER_HOME", "")
			}
			if dir == "" {
				return fmt.Errorf("--home DIR is required")
			}
			res, err := node.RotateKeys(c.Context(), home.Home{Dir: dir}, patient)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(g.stdout, res)
			}
			what := "key-encryption key rotated; every data key re-wrapped"
			if res.Rotated == "dek" {
				what = "data key of Patient/" + res.Patient + " rotated"
			}
			fmt.Fprintf(g.stdout, "%s in %.2fs\n", what, res.Seconds)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "home", "", "node home directory (env MEDLEDGER_HOME)")
	c.Flags().StringVar(&patient, "patient", "", "rotate this patient's data key instead (FHIR Patient id)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}
