package hl7v2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// convertHandler is what `medledger` does with a message, minus storage.
func convertHandler(_ context.Context, raw []byte) []byte {
	m, err := Parse(raw)
	if err != nil {
		h, _ := ParseHeader(raw)
		return ACK(h, AckCode(err), err.Error())
	}
	_, _, err = Convert(m, Options{})
	if err != nil {
		return ACK(m, AckCode(err), err.Error())
	}
	return ACK(m, AA, "")
}

// startServer runs srv on a loopback listener until the test ends.
func startServer(t *testing.T, srv *Server) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(10 * time.Second):
				serveErr = errors.New("Serve did not return within 10s of cancellation")
			}
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String(), stop
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second)) // no test may hang
	t.Cleanup(func() { c.Close() })
	return c
}

func ackOf(t *testing.T, ack []byte) (code, control string) {
	t.Helper()
	m, err := Parse(ack)
	if err != nil {
		t.Fatalf("ack does not parse: %v: %q", err, ack)
	}
	code, _ = m.Get("MSA-1")
	control, _ = m.Get("MSA-2")
	return code, control
}

func TestMLLPRoundTrip(t *testing.T) {
	var logs logBuffer
	addr, _ := startServer(t, &Server{Handler: convertHandler, Logf: logs.logf})
	c := dial(t, addr)

	for _, tt := range []struct {
		in         []byte
		code, ctrl string
	}{
		{sampleA01, AA, "MSG00001"},
		{sampleORU, AA, "LAB0001"},
		{msg(msh("ADT^A03", "X1"), samplePID), AR, "X1"},
		{msg(msh("ADT^A01", "X2"), seg("PID", 1, "1", 5, "Testpatient^Jane^Q.")), AE, "X2"},
		{[]byte(patientName), AR, ""},
	} {
		ack, err := Send(c, tt.in)
		if err != nil {
			t.Fatal(err)
		}
		code, ctrl := ackOf(t, ack)
		if code != tt.code || ctrl != tt.ctrl {
			t.Errorf("ack = %s, %q; want %s, %q", code, ctrl, tt.code, tt.ctrl)
		}
		assertNoPHI(t, "ack", string(ack))
	}
	assertNoPHI(t, "log", logs.String())
}

func TestMLLPConcurrentClients(t *testing.T) {
	addr, _ := startServer(t, &Server{Handler: convertHandler})
	var wg sync.WaitGroup
	for client := range 2 {
		c := dial(t, addr)
		wg.Go(func() {
			for i := range 20 {
				ctrl := fmt.Sprintf("C%d-%d", client, i)
				ack, err := Send(c, msg(msh("ADT^A04", ctrl), samplePID, samplePV1))
				if err != nil {
					t.Error(err)
					return
				}
				if code, got := ackOf(t, ack); code != AA || got != ctrl {
					t.Errorf("client %d: ack %s for %q; want AA for %q", client, code, got, ctrl)
				}
			}
		})
	}
	wg.Wait()
}

func TestMLLPFrameTooLarge(t *testing.T) {
	var logs logBuffer
	addr, _ := startServer(t, &Server{Handler: convertHandler, Logf: logs.logf})
	c := dial(t, addr)

	huge := append(msg(msh("ORU^R01", "BIG1"), oruPID), "NTE|1||"...)
	huge = append(huge, bytes.Repeat([]byte(patientName+" "), MaxMessageBytes/len(patientName))...)
	ack, err := Send(c, huge)
	if err != nil {
		t.Fatalf("oversized frame: %v", err)
	}
	if code, ctrl := ackOf(t, ack); code != AR || ctrl != "BIG1" {
		t.Errorf("oversized frame: ack %s, %q; want AR, BIG1", code, ctrl)
	}
	assertNoPHI(t, "ack", string(ack))

	// The connection goes on.
	ack, err = Send(c, sampleA01)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := ackOf(t, ack); code != AA {
		t.Errorf("after an oversized frame: %s", code)
	}

	// A frame that never ends is cut off: the server closes the connection.
	small := &Server{Handler: convertHandler, MaxFrame: 1024, Logf: logs.logf}
	addr2, _ := startServer(t, small)
	c2 := dial(t, addr2)
	go func() {
		c2.Write([]byte{startBlock})
		c2.Write(bytes.Repeat([]byte("x"), 20*1024))
	}()
	if _, err := io.ReadAll(c2); err != nil && !isReset(err) {
		t.Errorf("endless frame: read %v; want the connection closed", err)
	}
	assertNoPHI(t, "log", logs.String())
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

func TestMLLPFraming(t *testing.T) {
	addr, _ := startServer(t, &Server{Handler: convertHandler})

	// Line breaks between frames are tolerated.
	c := dial(t, addr)
	c.Write([]byte("\r\n"))
	if ack, err := Send(c, sampleA01); err != nil {
		t.Fatal(err)
	} else if code, _ := ackOf(t, ack); code != AA {
		t.Errorf("ack %s", code)
	}

	// Garbage without a start byte, and an end byte without CR, close.
	for name, junk := range map[string][]byte{
		"no start":     bytes.Repeat([]byte("junk "), 400),
		"end, no CR":   append(append([]byte{startBlock}, sampleA01...), endBlock, 'x'),
		"nested start": append(append([]byte{startBlock}, "MSH|^~\\&|\x0b"...), endBlock, carriageCR),
	} {
		c := dial(t, addr)
		c.Write(junk)
		if b, err := io.ReadAll(c); len(b) != 0 || err != nil && !isReset(err) {
			t.Errorf("%s: read %q, %v; want the connection closed", name, b, err)
		}
	}
}

func TestMLLPGracefulStop(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	h := func(ctx context.Context, raw []byte) []byte {
		close(started)
		<-release
		if ctx.Err() != nil {
			return ACK(nil, AE, "cancelled")
		}
		m, _ := Parse(raw)
		return ACK(m, AA, "")
	}
	addr, stop := startServer(t, &Server{Handler: h})
	busy, idle := dial(t, addr), dial(t, addr)

	type result struct {
		ack []byte
		err error
	}
	res := make(chan result, 1)
	go func() {
		ack, err := Send(busy, sampleA01)
		res <- result{ack, err}
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()

	// The idle connection is closed promptly.
	if b, err := io.ReadAll(idle); len(b) != 0 || err != nil && !isReset(err) {
		t.Errorf("idle connection: read %q, %v", b, err)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) while a handler was running", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	r := <-res
	if r.err != nil {
		t.Fatalf("in-flight message: %v", r.err)
	}
	if code, ctrl := ackOf(t, r.ack); code != AA || ctrl != "MSG00001" {
		t.Errorf("in-flight ack = %s, %q", code, ctrl)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve = %v; want nil after cancellation", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("the listener still accepts after stop")
	}
}

func TestMLLPHandlerPanic(t *testing.T) {
	var logs logBuffer
	h := func(ctx context.Context, raw []byte) []byte { panic("boom: " + string(raw)) }
	addr, _ := startServer(t, &Server{Handler: h, Logf: logs.logf})
	c := dial(t, addr)
	if _, err := Send(c, sampleA01); err == nil {
		t.Error("Send got a reply from a panicking handler")
	}
	if !strings.Contains(logs.String(), "panicked") {
		t.Errorf("log = %q", logs.String())
	}
	assertNoPHI(t, "log", logs.String())
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, format+"\n", args...)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
