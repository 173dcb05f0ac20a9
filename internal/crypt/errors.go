package crypt

import "errors"

// Sentinel errors, returned wrapped in an *Error; test for them with
// errors.Is.
var (
	// ErrShredded means the subject's keys were destroyed by Shred: Open,
	// Seal, WrapFor, ImportWrapped, RotateDEK and Rewrap return it for
	// that subject from then on.
	ErrShredded = errors.New("keys shredded")

	// ErrNoKey means the subject has no DEK yet: nothing was ever sealed
	// for it on this node, nor imported. Open, WrapFor, RotateDEK and
	// Rewrap return it; Seal creates the DEK instead.
	ErrNoKey = errors.New("no key for subject")

	// ErrDecrypt means authentication failed: the ciphertext was
	// altered, or belongs to another subject, another AAD, another info,
	// or another recipient key. AES-GCM and HPKE cannot tell these apart.
	ErrDecrypt = errors.New("message authentication failed")

	// ErrWrongMasterKey means the KeyStore's KEK keyset, or an org key
	// file, does not decrypt under the given master key (or was altered).
	ErrWrongMasterKey = errors.New("wrong master key")

	// ErrCorrupt means a stored value, wrapped key or key file is not
	// well formed. The message says what is wrong.
	ErrCorrupt = errors.New("corrupt key data")

	// ErrKeyExists means ImportWrapped was given a DEK keyset for a
	// subject whose stored keyset has a key the import lacks.
	ErrKeyExists = errors.New("subject already has a different key")
)

// An Error records a failed operation on a subject. Subject is empty when
// the subject was invalid, so that an error never repeats a string that
// might be personal data by mistake.
type Error struct {
	Op      string // "seal", "open", "shred", "rotate-kek", "wrap", "import", ...
	Subject string
	Err     error
}

func (e *Error) Error() string {
	s := "crypt: " + e.Op
	if e.Subject != "" {
		s += " " + e.Subject
	}
	return s + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }
