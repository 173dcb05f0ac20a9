package cli

import (
	"runtime"
	"testing"
)

func TestMemTotal(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/meminfo")
	}
	if m := memTotal(); m < 64<<20 {
		t.Errorf("memTotal = %d bytes; want the machine's memory", m)
	}
}
