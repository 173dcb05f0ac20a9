package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/ledger"
)

// auditBatcher records AuditEvents in batches: concurrent accesses queue
// their events, and each of a few workers takes what is queued (up to
// audit.MaxBatch) into one audit.record_batch transaction, so a busy node
// signs, verifies and indexes one transaction per batch rather than per
// access. Each caller still returns only once its event is durable.
type auditBatcher struct {
	sign   func(contract, method string, payload []byte) ([]byte, error)
	submit func(ctx context.Context, raw []byte) (ledger.Receipt, error)
	q      chan *auditReq
	stop   chan struct{}
	wg     sync.WaitGroup
}

type auditReq struct {
	e    *audit.Event
	done chan error // buffered 1
}

// auditWorkers is how many batches may be in flight at once: enough to
// keep a block building while the previous one commits, few enough that
// batches fill up (per-transaction costs, a signature and its check, are
// then shared by more events). 3 measured best under bench fhir --auth
// (8 gave batches a third the size and about 10% fewer reads per second).
const auditWorkers = 3

var errAuditStopped = errors.New("the audit trail is closed (the node is shutting down)")

func newAuditBatcher(sign func(contract, method string, payload []byte) ([]byte, error), submit func(context.Context, []byte) (ledger.Receipt, error)) *auditBatcher {
	b := &auditBatcher{sign: sign, submit: submit, q: make(chan *auditReq, 8192), stop: make(chan struct{})}
	for range auditWorkers {
		b.wg.Add(1)
		go b.work()
	}
	return b
}

// record queues e and waits until it is durable.
func (b *auditBatcher) record(ctx context.Context, e *audit.Event) error {
	r := &auditReq{e: e, done: make(chan error, 1)}
	select {
	case b.q <- r:
	case <-b.stop:
		return errAuditStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err() // the event may still be recorded
	}
}

func (b *auditBatcher) work() {
	defer b.wg.Done()
	batch := make([]*auditReq, 0, audit.MaxBatch)
	var buf bytes.Buffer // the payload, reused: signing copies it into the transaction
	for {
		batch = batch[:0]
		select {
		case r := <-b.q:
			batch = append(batch, r)
		case <-b.stop:
			return
		}
	fill:
		for len(batch) < audit.MaxBatch {
			select {
			case r := <-b.q:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		err := b.flush(batch, &buf)
		for _, r := range batch {
			r.done <- err
		}
	}
}

func (b *auditBatcher) flush(batch []*auditReq, buf *bytes.Buffer) error {
	// Encoded as audit.Batch is, without copying the events.
	var payload struct {
		Events []*audit.Event `json:"events"`
	}
	payload.Events = make([]*audit.Event, len(batch))
	for i, r := range batch {
		payload.Events[i] = r.e
	}
	buf.Reset()
	if err := json.NewEncoder(buf).Encode(&payload); err != nil {
		return err
	}
	p := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	raw, err := b.sign("audit", "record_batch", p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc, err := b.submit(ctx, raw)
	if err != nil {
		return err
	}
	if rc.Result.Code != ledger.CodeOK {
		return &ledger.Error{Code: rc.Result.Code, Msg: rc.Result.Message}
	}
	return nil
}

// close stops the workers once their batches are answered; queued
// events not yet taken are refused.
func (b *auditBatcher) close() {
	close(b.stop)
	b.wg.Wait()
	for {
		select {
		case r := <-b.q:
			r.done <- errAuditStopped
		default:
			return
		}
	}
}
