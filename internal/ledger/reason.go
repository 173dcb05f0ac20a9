package ledger

import (
	"errors"
	"fmt"
)

// Code is the stable, machine-readable outcome of a transaction: OK, or
// the reason it was rejected at admission or failed in execution. Codes are
// part of the public API; they are never renamed.
type Code string

// Outcome codes. Admission rejections (everything but OK, CodeContract,
// CodeDenied and CodeUnknownMethod when found in execution) leave no trace on
// the ledger; execution failures are committed with the code and change no
// world state.
const (
	CodeOK              Code = "ok"
	CodeMalformed       Code = "malformed"        // bytes are not a canonical transaction
	CodeTooLarge        Code = "too_large"        // transaction or request exceeds the size limit
	CodeWrongChain      Code = "wrong_chain"      // chain id is not this network's
	CodeBadSignature    Code = "bad_signature"    // signature does not verify with the signer's current key
	CodeUnknownSigner   Code = "unknown_signer"   // signer is not an enrolled member
	CodeSuspendedSigner Code = "suspended_signer" // signer is enrolled but suspended
	CodeReplay          Code = "replay"           // a transaction with this ID was already accepted
	CodeUnknownContract Code = "unknown_contract" // no such contract is registered
	CodeUnknownMethod   Code = "unknown_method"   // the contract has no such method
	CodeDenied          Code = "denied"           // a policy refused the signer this action
	CodeContract        Code = "contract_error"   // the contract refused the payload
	CodeOverloaded      Code = "overloaded"       // the node is at capacity; retry later
	CodeUnavailable     Code = "unavailable"      // the node is shutting down or not ready
)

// Valid reports whether c is one of the defined codes.
func (c Code) Valid() bool {
	switch c {
	case CodeOK, CodeMalformed, CodeTooLarge, CodeWrongChain, CodeBadSignature,
		CodeUnknownSigner, CodeSuspendedSigner, CodeReplay, CodeUnknownContract,
		CodeUnknownMethod, CodeDenied, CodeContract, CodeOverloaded, CodeUnavailable:
		return true
	}
	return false
}

// Error is a transaction rejection or failure with its stable code and a
// message safe to show to the submitter. Messages never contain payload
// contents.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Msg }

// Is reports whether e matches target: a CodeMalformed error matches
// ErrMalformed, so that errors.Is(err, ErrMalformed) holds for every
// DecodeTx failure other than size, as documented there.
func (e *Error) Is(target error) bool { return target == ErrMalformed && e.Code == CodeMalformed }

// Errorf returns an *Error with code c and a formatted message.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns the Code carried by err if it is (or wraps) an *Error,
// CodeOK for nil, and "" otherwise.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
