package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/ledger"
)

func newValidatorCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "validator",
		Short: "Change a running consortium's validator set: propose, approve (see docs/consortium.md)",
	}
	c.AddCommand(newValidatorProposeCmd(g), newValidatorApproveCmd(g))
	return c
}

// validatorOutcome reports whether the change was applied by rc's
// transaction (members.validator_set among its events).
func validatorOutcome(rc ledger.Receipt) string {
	for _, e := range rc.Result.Events {
		if e.Type == "members.validator_set" {
			return "applied: CometBFT uses the new validator set from two blocks on"
		}
	}
	return "waiting for approvals: applied once the approving organisations hold more than two thirds of the voting power"
}

func newValidatorProposeCmd(g *globals) *cobra.Command {
	var s signerFlags
	var r members.ProposeValidator
	var asJSON bool
	c := &cobra.Command{
		Use:   "propose --name NAME --org ORG --public-key KEY [--power N] (--home DIR | --key FILE --signer MEMBER) [--node URL]",
		Short: "Propose adding a validator, changing its power, or removing it (--power 0)",
		Long: "validator propose signs a members.propose_validator transaction as an administrator of an organisation\n" +
			"that runs a validator. KEY is the node key of the validator's node (medledger join prints it). The\n" +
			"proposer's organisation approves by proposing; administrators of the other validator organisations\n" +
			"approve with medledger validator approve. The change applies once the approving organisations hold more\n" +
			"than two thirds of the voting power; proposals are open for 14 days.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if r.Name == "" || r.Org == "" || r.PublicKey == "" {
				return errors.New("--name, --org and --public-key are required")
			}
			rc, err := s.submit(c.Context(), "members", "propose_validator", r)
			if err != nil {
				return err
			}
			out := validatorOutcome(rc)
			if asJSON {
				return printJSON(g.stdout, map[string]any{"proposal": rc.TxHash.String(), "height": rc.Height, "outcome": out})
			}
			fmt.Fprintf(g.stdout, "proposal %s (height %d): %s\nOther organisations approve it with: medledger validator approve %s\n", rc.TxHash, rc.Height, out, rc.TxHash)
			return nil
		},
	}
	s.register(c)
	c.Flags().StringVar(&r.Name, "name", "", "the validator's name (a-z, 0-9, '-')")
	c.Flags().StringVar(&r.Org, "org", "", "the organisation that runs it")
	c.Flags().StringVar(&r.PublicKey, "public-key", "", "its node key, base64 Ed25519 (printed by medledger join)")
	c.Flags().Int64Var(&r.Power, "power", 10, "voting power (testnet validators have 10); 0 removes the validator")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}

func newValidatorApproveCmd(g *globals) *cobra.Command {
	var s signerFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "approve PROPOSAL (--home DIR | --key FILE --signer MEMBER) [--node URL]",
		Short: "Approve a proposed validator change on behalf of your organisation",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			rc, err := s.submit(c.Context(), "members", "approve_validator", members.ApproveValidator{Proposal: args[0]})
			if err != nil {
				return err
			}
			out := validatorOutcome(rc)
			if asJSON {
				return printJSON(g.stdout, map[string]any{"proposal": args[0], "height": rc.Height, "outcome": out})
			}
			fmt.Fprintf(g.stdout, "approved at height %d: %s\n", rc.Height, out)
			return nil
		},
	}
	s.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}
