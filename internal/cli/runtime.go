package cli

import (
	"os"
	"runtime/debug"
)

// defaultGCPercent is the garbage collector's target heap growth for the
// medledger process when GOGC is not set. The Go heap of a node is small
// (Pebble's block cache lives outside it) while its allocation rate under
// load is high, so the default of 100 runs a collection every ~100 ms at
// 20k reads/s, each stealing a core for ~35 ms on a two-core machine.
// 200 halves that for about twice the (small) heap; measured with
// `medledger bench fhir`: read p99 9.5 → 7.9 ms, reads/s +10%.
const defaultGCPercent = 200

// tuneRuntime applies process-wide runtime settings. An operator's GOGC
// (and GOMEMLIMIT, which the runtime reads itself) always wins.
func tuneRuntime() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
}
