package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/node"
)

func newProofCmd(g *globals) *cobra.Command {
	var dir, genesisPath, nodeURL, saveSTH, txHex string
	var asJSON bool
	c := &cobra.Command{
		Use:   "proof --tx HASH [--node URL] [--home DIR | --genesis FILE] [--save-sth FILE]",
		Short: "Fetch a transaction's inclusion proof and verify it against a signed tree head",
		Long: "proof fetches a committed transaction, its receipt and its RFC 6962 inclusion proof from a node,\n" +
			"and checks them without trusting the node: the tree head's signature against the validator\n" +
			"keys in the genesis document, the transaction's hash, and the audit path to the signed root.\n" +
			"With --save-sth FILE it also remembers the verified tree head; if FILE already holds one, it\n" +
			"first proves that the node's current tree is an append-only extension of it (consistency proof).",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			id, err := node.ParseHash(txHex)
			if err != nil {
				return fmt.Errorf("--tx: %v", err)
			}
			doc, err := loadGenesis(dir, genesisPath)
			if err != nil {
				return err
			}
			vals, err := validatorKeys(doc)
			if err != nil {
				return err
			}
			if nodeURL == "" {
				nodeURL = "http://" + node.DefaultAddr
				if dir != "" {
					if cfg, err := loadConfig(c, dir, nil); err == nil && cfg.Addr != "" {
						nodeURL = "http://" + cfg.Addr
					}
				}
			}
			cl := client.New(nodeURL, nil)
			ctx := c.Context()
			ans, err := cl.Tx(ctx, id)
			if err != nil {
				return fmt.Errorf("fetching the transaction from %s: %w", nodeURL, err)
			}
			th, err := client.VerifyTx(ans, id, doc.ChainID, vals)
			if err != nil {
				return &exitError{code: 1, msg: fmt.Sprintf("transaction %s: %v", id, err)}
			}
			consistency := ""
			if saveSTH != "" {
				if consistency, err = checkAndSave(ctx, cl, saveSTH, th); err != nil {
					return &exitError{code: 1, msg: err.Error()}
				}
			}
			out := map[string]any{
				"verified": true, "tx": id, "height": ans.Receipt.Height, "index": ans.Receipt.Index,
				"result": ans.Receipt.Result.Code, "leaf_index": ans.Proof.LeafIndex,
				"tree_size": th.Size, "root_hash": th.Root, "tree_head_height": th.Height, "signed_by": ans.TreeHead.KeyID,
			}
			if consistency != "" {
				out["consistency"] = consistency
			}
			if asJSON {
				return printJSON(g.stdout, out)
			}
			fmt.Fprintf(g.stdout, "verified: transaction %s\n  committed in block %d (index %d) with result %q\n  leaf %d of a tree of %d, root %s\n  tree head signed by validator %s at height %d\n",
				id, ans.Receipt.Height, ans.Receipt.Index, ans.Receipt.Result.Code, ans.Proof.LeafIndex, th.Size, th.Root, ans.TreeHead.KeyID, th.Height)
			if consistency != "" {
				fmt.Fprintf(g.stdout, "  %s\n", consistency)
			}
			return nil
		},
	}
	c.Flags().StringVar(&txHex, "tx", "", "transaction hash (64 hex digits)")
	c.MarkFlagRequired("tx")
	c.Flags().StringVar(&dir, "home", os.Getenv("MEDLEDGER_HOME"), "node home whose genesis.json holds the trusted validator keys")
	c.Flags().StringVar(&genesisPath, "genesis", "", "genesis document holding the trusted validator keys (instead of --home)")
	c.Flags().StringVar(&nodeURL, "node", "", "node API base URL (default: the home's address or http://"+node.DefaultAddr+")")
	c.Flags().StringVar(&saveSTH, "save-sth", "", "file remembering the last verified tree head (checked for consistency, then updated)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}

func loadGenesis(dir, path string) (*genesis.Doc, error) {
	switch {
	case path != "":
		return genesis.Load(path)
	case dir != "":
		return genesis.Load(home.Home{Dir: dir}.Genesis())
	}
	return nil, errors.New("give --home DIR or --genesis FILE: the validator keys must come from a genesis you trust, not from the node")
}

func validatorKeys(doc *genesis.Doc) (map[string]ed25519.PublicKey, error) {
	m := map[string]ed25519.PublicKey{}
	for _, v := range doc.Validators {
		pub, err := identity.ParsePublicKey(v.PublicKey)
		if err != nil {
			return nil, err
		}
		m[identity.KeyIDOf(pub)] = pub
	}
	return m, nil
}

// checkAndSave proves the new tree head extends the saved one (if any) and
// saves the new one.
func checkAndSave(ctx context.Context, cl *client.Client, path string, th client.Verified) (string, error) {
	msg := ""
	if b, err := os.ReadFile(path); err == nil {
		var old savedHead
		if err := json.Unmarshal(b, &old); err != nil {
			return "", fmt.Errorf("%s: not a saved tree head: %v", path, err)
		}
		if old.ChainID != th.ChainID {
			return "", fmt.Errorf("%s is for chain %q, this is %q", path, old.ChainID, th.ChainID)
		}
		if old.Size > th.Size {
			return "", fmt.Errorf("the node's tree (%d) is smaller than one it signed before (%d): history was removed", th.Size, old.Size)
		}
		p, err := cl.Consistency(ctx, old.Size, th.Size)
		if err != nil {
			return "", fmt.Errorf("fetching a consistency proof: %w", err)
		}
		if err := client.VerifyConsistency(old.Size, th.Size, old.Root, th.Root, p.Hashes); err != nil {
			return "", fmt.Errorf("the node's history is not an extension of the tree head saved in %s: %v", path, err)
		}
		msg = fmt.Sprintf("consistent with the tree head saved earlier (size %d → %d)", old.Size, th.Size)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	b, _ := json.MarshalIndent(savedHead{ChainID: th.ChainID, Height: th.Height, Size: th.Size, Root: th.Root}, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return "", err
	}
	return msg, os.Rename(tmp, path)
}
