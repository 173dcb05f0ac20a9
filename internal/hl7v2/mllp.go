package hl7v2

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// MLLP framing: <VT> message <FS><CR>.
const (
	startBlock = 0x0b
	endBlock   = 0x1c
	carriageCR = 0x0d
)

// ErrFrameTooLarge is returned by Send for a reply, and reported by the
// server (which answers AR and drops the frame), for a frame over the
// limit.
var ErrFrameTooLarge = errors.New("hl7v2: MLLP frame exceeds the size limit")

// ErrFraming is wrapped by the errors of Send for bytes that do not follow
// MLLP framing.
var ErrFraming = errors.New("hl7v2: MLLP framing error")

// Handler processes one message received over MLLP and returns the
// acknowledgement to send back (see ACK and AckCode), or nil to send
// none. raw is the frame's content, owned by the handler. ctx carries the
// values of Serve's context but is not cancelled when the server stops,
// so that a message being processed is finished and acknowledged; Serve
// waits for it, so a handler must bound its own work. Handlers run
// concurrently, one at a time per connection.
type Handler func(ctx context.Context, raw []byte) (ack []byte)

// Server is an MLLP (Minimal Lower Layer Protocol) listener. The zero
// value, with a Handler, is a valid configuration; fields must not change
// while Serve runs.
type Server struct {
	Handler Handler
	// MaxFrame bounds a frame's content. Default MaxMessageBytes. A larger
	// frame is read to its end and answered with an AR acknowledgement
	// (addressed from its MSH when that fits in the limit); a connection
	// whose frame does not end within 8 times the limit is closed.
	MaxFrame int
	// IdleTimeout bounds the wait for the next frame. Default 5 minutes.
	IdleTimeout time.Duration
	// ReadTimeout bounds the reading of one frame, from its start byte.
	// Default 1 minute.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one acknowledgement. Default 30 seconds.
	WriteTimeout time.Duration
	// Logf, if set, receives one line per connection error. Lines carry
	// remote addresses and error classes, never message content.
	Logf func(format string, args ...any)
}

// Serve runs an MLLP server on ln with default settings; see
// Server.Serve.
func Serve(ctx context.Context, ln net.Listener, h Handler) error {
	return (&Server{Handler: h}).Serve(ctx, ln)
}

func (s *Server) maxFrame() int {
	if s.MaxFrame > 0 {
		return s.MaxFrame
	}
	return MaxMessageBytes
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Serve accepts connections on ln and serves each in its own goroutine:
// it reads frames one after another, calls the Handler, and writes the
// acknowledgement before reading the next frame (as MLLP senders expect).
//
// When ctx is done, Serve closes ln, stops reading, lets handlers already
// running finish and their acknowledgements be written, closes every
// connection, and returns nil once all connection goroutines have ended.
// It returns earlier with the listener's error if Accept fails for a
// reason other than a timeout. Serve closes ln in every case.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Handler == nil {
		return errors.New("hl7v2: Server.Handler is nil")
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[*mllpConn]struct{}{} // +checklocks:mu
	)
	// sctx is done when ctx is, or when Serve returns on an Accept error.
	sctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(sctx, func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.interrupt()
		}
	})
	defer func() {
		cancel()
		wg.Wait()
		stop()
		ln.Close()
	}()

	backoff := 5 * time.Millisecond
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(backoff)
				backoff = min(2*backoff, time.Second)
				continue
			}
			return fmt.Errorf("hl7v2: accept: %w", err)
		}
		backoff = 5 * time.Millisecond
		c := &mllpConn{s: s, nc: nc, ctx: sctx}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Go(func() {
			defer func() {
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
			c.serve()
		})
	}
}

type mllpConn struct {
	s   *Server
	nc  net.Conn
	ctx context.Context // the server's: done means stop reading
}

// interrupt unblocks a read in progress; the connection then sees the
// server's context done and ends after any handler running finishes.
func (c *mllpConn) interrupt() { c.nc.SetReadDeadline(time.Unix(1, 0)) }

// setReadDeadline sets the read deadline unless the server is stopping;
// checking after setting closes the race with interrupt.
func (c *mllpConn) setReadDeadline(t time.Time) bool {
	c.nc.SetReadDeadline(t)
	return c.ctx.Err() == nil
}

func (c *mllpConn) logf(format string, args ...any) {
	if c.s.Logf != nil {
		c.s.Logf("hl7v2: mllp %s: "+format, append([]any{c.nc.RemoteAddr()}, args...)...)
	}
}

func (c *mllpConn) serve() {
	defer c.nc.Close()
	hctx := context.WithoutCancel(c.ctx)
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		frame, err := c.readFrame(br)
		switch {
		case errors.Is(err, ErrFrameTooLarge):
			c.logf("frame over %d bytes: answered AR", c.s.maxFrame())
			if !c.reply(ACK(headerOf(frame), AR, fmt.Sprintf("message exceeds the maximum size of %d bytes", c.s.maxFrame()))) {
				return
			}
			continue
		case err != nil:
			if !errors.Is(err, io.EOF) && c.ctx.Err() == nil {
				c.logf("%v", err)
			}
			return
		}
		ack, ok := c.handle(hctx, frame)
		if !ok || ack != nil && !c.reply(ack) {
			return
		}
		if c.ctx.Err() != nil {
			return
		}
	}
}

// handle runs the handler; ok is false if it panicked, which closes the
// connection (the sender will resend). The panic value is not logged, as
// it may contain message content.
func (c *mllpConn) handle(ctx context.Context, frame []byte) (ack []byte, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			c.logf("handler panicked; closing the connection without an acknowledgement")
			ack, ok = nil, false
		}
	}()
	return c.s.Handler(ctx, frame), true
}

func (c *mllpConn) reply(ack []byte) bool {
	c.nc.SetWriteDeadline(time.Now().Add(orDefault(c.s.WriteTimeout, 30*time.Second)))
	if _, err := c.nc.Write(frame(ack)); err != nil {
		c.logf("write acknowledgement: %v", err)
		return false
	}
	return true
}

func frame(msg []byte) []byte {
	out := make([]byte, 0, len(msg)+3)
	out = append(out, startBlock)
	out = append(out, msg...)
	return append(out, endBlock, carriageCR)
}

// headerOf parses the MSH of a (partial) frame, or returns nil.
func headerOf(b []byte) *Message {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	} else {
		return nil // MSH not complete within the limit
	}
	m, err := ParseHeader(b)
	if err != nil {
		return nil
	}
	return m
}

// readFrame reads the next frame. Bytes before the start byte are
// skipped (some senders put line breaks between frames). For a frame over
// the limit it returns ErrFrameTooLarge and the first bytes of the frame.
func (c *mllpConn) readFrame(br *bufio.Reader) ([]byte, error) {
	if !c.setReadDeadline(time.Now().Add(orDefault(c.s.IdleTimeout, 5*time.Minute))) {
		return nil, io.EOF
	}
	for skipped := 0; ; skipped++ {
		b, err := br.ReadByte()
		if err != nil {
			return nil, err
		}
		if b == startBlock {
			break
		}
		if skipped > 1024 {
			return nil, fmt.Errorf("%w: no start of frame", ErrFraming)
		}
	}
	if !c.setReadDeadline(time.Now().Add(orDefault(c.s.ReadTimeout, time.Minute))) {
		return nil, io.EOF
	}
	return readFrameBody(br, c.s.maxFrame())
}

// readFrameBody reads up to and including <FS><CR> and returns the
// content. A frame over limit is read to its end, up to 8 times limit,
// and reported as ErrFrameTooLarge with its first limit bytes.
func readFrameBody(br *bufio.Reader, limit int) ([]byte, error) {
	var buf []byte
	total := 0
	for {
		// Take what has arrived, up to an end byte, without waiting for
		// the buffer to fill, so that limits apply as bytes arrive.
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				if errors.Is(err, io.EOF) {
					return nil, fmt.Errorf("%w: connection closed inside a frame", ErrFraming)
				}
				return nil, err
			}
		}
		avail, _ := br.Peek(br.Buffered())
		end := bytes.IndexByte(avail, endBlock)
		chunk := avail
		if end >= 0 {
			chunk = avail[:end]
		}
		total += len(chunk)
		if room := limit - len(buf); room > 0 {
			buf = append(buf, chunk[:min(room, len(chunk))]...)
		}
		if total > 8*limit {
			return nil, fmt.Errorf("%w: an oversized frame did not end within %d bytes", ErrFraming, 8*limit)
		}
		if end < 0 {
			br.Discard(len(chunk))
			continue
		}
		br.Discard(end + 1)
		cr, err := br.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("%w: connection closed inside a frame", ErrFraming)
		}
		if cr != carriageCR {
			return nil, fmt.Errorf("%w: end of frame not followed by CR", ErrFraming)
		}
		if total > limit {
			return buf, ErrFrameTooLarge
		}
		if bytes.IndexByte(buf, startBlock) >= 0 {
			return nil, fmt.Errorf("%w: start of frame inside a frame", ErrFraming)
		}
		return buf, nil
	}
}

// Send writes msg to conn in an MLLP frame and reads one framed reply
// (at most MaxMessageBytes), which it returns. It uses conn's deadlines;
// set them first. Send is meant for tests and simple clients: it does not
// retry, and callers must not use conn from two goroutines at once.
func Send(conn net.Conn, msg []byte) ([]byte, error) {
	if _, err := conn.Write(frame(msg)); err != nil {
		return nil, fmt.Errorf("hl7v2: mllp send: %w", err)
	}
	br := bufio.NewReader(conn)
	b, err := br.ReadByte()
	for err == nil && b != startBlock {
		if b != '\r' && b != '\n' {
			return nil, fmt.Errorf("%w: reply does not start with a start-of-frame byte", ErrFraming)
		}
		b, err = br.ReadByte()
	}
	if err != nil {
		return nil, fmt.Errorf("hl7v2: mllp read reply: %w", err)
	}
	ack, err := readFrameBody(br, MaxMessageBytes)
	if err != nil {
		return nil, fmt.Errorf("hl7v2: mllp read reply: %w", err)
	}
	return ack, nil
}
