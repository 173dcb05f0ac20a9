//go:build !unix

package validate

func cpuTime() int64 { return 0 }
