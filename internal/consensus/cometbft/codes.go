package cometbft

import (
	"slices"

	"github.com/medledger/medledger/internal/ledger"
)

// codespace names medledger's result codes in CometBFT's CheckTx and
// FinalizeBlock answers (and so in its RPC and block results).
const codespace = "medledger"

// codes numbers the ledger codes for ABCI: code i+1 is codes[i]; 0 is OK.
// The numbers are part of what consensus agrees on (CometBFT hashes each
// block's result codes), so entries are only ever appended.
var codes = []ledger.Code{
	ledger.CodeMalformed, ledger.CodeTooLarge, ledger.CodeWrongChain, ledger.CodeBadSignature,
	ledger.CodeUnknownSigner, ledger.CodeSuspendedSigner, ledger.CodeReplay, ledger.CodeUnknownContract,
	ledger.CodeUnknownMethod, ledger.CodeDenied, ledger.CodeContract, ledger.CodeOverloaded, ledger.CodeUnavailable,
}

// codeNum returns the ABCI code of c; unknown codes map to contract_error's.
func codeNum(c ledger.Code) uint32 {
	if c == ledger.CodeOK {
		return 0
	}
	i := slices.Index(codes, c)
	if i < 0 {
		i = slices.Index(codes, ledger.CodeContract)
	}
	return uint32(i + 1)
}

// codeOf is the inverse of codeNum; numbers it does not know map to
// CodeUnavailable.
func codeOf(n uint32) ledger.Code {
	if n == 0 {
		return ledger.CodeOK
	}
	if int(n) <= len(codes) {
		return codes[n-1]
	}
	return ledger.CodeUnavailable
}

func codespaceOf(c ledger.Code) string {
	if c == ledger.CodeOK {
		return ""
	}
	return codespace
}
