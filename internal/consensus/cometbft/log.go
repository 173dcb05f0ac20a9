package cometbft

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	cmtlog "github.com/cometbft/cometbft/libs/log"
)

// logger adapts slog to CometBFT's logger. CometBFT's Info is chatty (a
// line per block and per peer event), so it becomes slog Debug; its Error
// covers ordinary network trouble too, so it becomes Warn. Its Debug is
// dropped unless slog is below Debug.
//
// It also watches for the two messages with which CometBFT reports that
// this node's state diverged from what the network committed, and calls
// diverged: consensus recovering from "+2/3 committed an invalid block",
// and block sync refusing a committed block whose app hash differs from
// ours. CometBFT itself then stops making progress but keeps running.
type logger struct {
	l        *slog.Logger
	diverged func(error)
}

var _ cmtlog.Logger = logger{}

// levelTrace is below slog's Debug: CometBFT's own debug lines.
const levelTrace = slog.LevelDebug - 4

func (l logger) log(level slog.Level, msg string, kv []any) {
	if l.l.Enabled(context.Background(), level) {
		l.l.Log(context.Background(), level, msg, fixKV(kv)...)
	}
}

func (l logger) Debug(msg string, kv ...any) { l.log(levelTrace, msg, kv) }
func (l logger) Info(msg string, kv ...any)  { l.log(slog.LevelDebug, msg, kv) }

func (l logger) Error(msg string, kv ...any) {
	l.log(slog.LevelWarn, msg, kv)
	if l.diverged == nil {
		return
	}
	switch {
	case msg == "CONSENSUS FAILURE!!!" && strings.Contains(fmt.Sprint(value(kv, "err")), "AppHash"):
		l.diverged(fmt.Errorf("app hash mismatch: this node's state differs from what the network committed (run medledger verify on its home): %v", value(kv, "err")))
	case msg == "CONSENSUS FAILURE!!!":
		l.diverged(fmt.Errorf("CometBFT consensus failed: %v", value(kv, "err")))
	case msg == "Error in validation" && strings.Contains(fmt.Sprint(value(kv, "err")), "AppHash"),
		msg == "Error in validation" && strings.Contains(fmt.Sprint(value(kv, "err")), "LastResultsHash"):
		l.diverged(fmt.Errorf("block sync: a committed block does not match this node's state: %v", value(kv, "err")))
	}
}

func (l logger) With(kv ...any) cmtlog.Logger {
	return logger{l: l.l.With(fixKV(kv)...), diverged: l.diverged}
}

// value returns the value of key in a key-value list.
func value(kv []any, key string) any {
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok && k == key {
			return kv[i+1]
		}
	}
	return nil
}

// fixKV drops the stack traces CometBFT attaches to failures (logged
// separately at Debug would be noise) and renders byte slices as hex.
func fixKV(kv []any) []any {
	out := make([]any, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok && k == "stack" {
			continue
		}
		v := kv[i+1]
		if b, ok := v.([]byte); ok {
			v = fmt.Sprintf("%X", b)
		}
		out = append(out, kv[i], v)
	}
	return out
}
