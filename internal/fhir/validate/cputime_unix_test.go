//go:build unix

package validate

import "syscall"

// cpuTime returns the process's user+system CPU time in nanoseconds, so
// benchmarks can report CPU per operation, which a busy machine distorts
// less than wall time.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
