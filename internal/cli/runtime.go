package cli

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// defaultGCPercent is the garbage collector's target heap growth for the
// medledger process when GOGC is not set. The node's heap holds the
// in-memory search index and little else (Pebble's block cache lives
// outside it), while its allocation rate under load is high: at Go's
// default of 100 a collection runs every ~100 ms at 25k reads/s and
// steals a core for tens of milliseconds on a two-core machine. Measured
// with `medledger bench fhir` (1,000 patients, 64 clients, 2 cores):
// GOGC 200 → read p99 9.1 ms, RSS 0.74 GB; 400 → p99 6.0 ms, RSS 0.98 GB.
// With authentication and audit (`bench fhir --auth`, which allocates
// ~35 KB per read), a mark phase of 200-260 ms every ~2 s set the read
// p99: five runs each, GOGC 400 → median p99 20.9 ms, peak RSS 1.2 GB;
// 800 → median 17.5 ms, peak RSS 1.9 GB. The memory limit below bounds it.
const defaultGCPercent = 800

// tuneRuntime applies process-wide runtime settings. An operator's GOGC,
// GOMEMLIMIT and GOMAXPROCS always win. Without GOMEMLIMIT the soft
// memory limit is a quarter of the machine's memory, so that the
// generous GOGC never lets the heap grow past what the machine can spare:
// near the limit the collector runs as often as it must.
//
// Without GOMAXPROCS the node runs one more goroutine thread than Go's
// default (the usable cores): a node keeps a thread in fsync or in a
// storage write much of the time (every block, the records log, Pebble's
// flushes), and a thread blocked in a system call holds its processor
// until the runtime notices. With only as many processors as cores a
// two-core node then idles a fifth of the time under load; measured with
// `medledger bench fhir --auth` on 2 cores, one more gave 12-18% more
// reads and creates per second and a lower read p99 (25-28 ms instead of
// 30-34 ms), and left `bench ledger` and unaudited reads within noise.
func tuneRuntime() {
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		if total := memTotal(); total > 0 {
			debug.SetMemoryLimit(total / 4)
		}
	}
}

// memTotal returns the machine's memory in bytes from /proc/meminfo, or
// 0 if unknown.
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
