// Package policy type-checks and evaluates operator-changeable rules written
// in CEL (cel.dev/cel-go): consent conditions, adjudication rules, transfer
// rules and the like, which an admin transaction stores in the ledger's state
// so that they can change without a release.
//
// The package owns three things: the set of variables a rule may read (an
// [Env]), the language a rule may use (the standard CEL library plus the
// strings extension, pinned to one version), and the evaluation of a rule
// under a cost limit (an [Engine]). It does not own where rules are stored,
// who may set them, or what a denial means; those belong to the contracts.
//
// Rules run inside contract execution, so evaluation must be deterministic:
// the same rule on the same inputs gives the same result, the same error and
// the same cost on every node and on every replay. To that end a rule sees
// only its inputs. The package does no I/O and reads no clock, no randomness
// and no environment; in particular:
//
//   - CEL has no function that reads the time; rules get the block time as an
//     input (a [Timestamp] variable), never the wall clock.
//   - Timestamp accessors with a named time zone (getHours("Europe/Paris"))
//     would read each node's time-zone database, which may differ between
//     nodes; [Engine.Check] rejects them. Fixed offsets ("+01:00") and "UTC"
//     are allowed. Timestamps are otherwise interpreted in UTC, and input
//     times are converted to UTC.
//   - Go randomises map iteration order. Every map a comprehension iterates
//     over (.all, .exists, .exists_one, .map, .filter), whether an input or a
//     literal in the rule, is iterated in sorted key order, so that even rules
//     whose result depends on order (m.map(k, k)[0]), the error reported when
//     several elements fail, and the cost charged are the same everywhere.
//   - The cost limit counts CEL operations, not time, so a rule hits it on
//     every node or on none.
//
// Errors from [Engine.Check] describe the rule, never its future inputs, and
// are safe to show to the admin who submitted it. Errors from [Engine.Eval]
// never quote input values (which may be personal health information); see
// [EvalError].
package policy
