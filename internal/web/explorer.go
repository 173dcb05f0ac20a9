package web

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/api/apitype"
	"github.com/medledger/medledger/internal/ledger"
)

// errLedgerNotFound is ledgerGet's error for a 404 answer.
var errLedgerNotFound = errors.New("web: not on the ledger")

// ledgerGet reads the ledger API in-process (the same answers any client
// gets) and decodes its JSON answer into out.
func (s *Server) ledgerGet(ctx context.Context, path string, out any) error {
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	req.RemoteAddr = "127.0.0.1:0"
	rec := httptest.NewRecorder()
	s.deps.Ledger.ServeHTTP(rec, req)
	switch {
	case rec.Code == http.StatusNotFound:
		return errLedgerNotFound
	case rec.Code != http.StatusOK:
		return fmt.Errorf("web: ledger API %s answered %d", path, rec.Code)
	}
	return json.Unmarshal(rec.Body.Bytes(), out)
}

// headView is a signed tree head and whether its signature checks.
type headView struct {
	STH      apitype.STH
	Verified bool
	Error    string
}

func (s *Server) head(ctx context.Context) (*headView, error) {
	var sth apitype.STH
	if err := s.ledgerGet(ctx, "/v1/sth", &sth); err != nil {
		return nil, err
	}
	hv := &headView{STH: sth}
	if _, err := client.VerifyTreeHead(sth, s.deps.ChainID, s.deps.Validators); err != nil {
		hv.Error = strings.TrimPrefix(err.Error(), client.ErrVerify.Error()+": ")
	} else {
		hv.Verified = true
	}
	return hv, nil
}

// blockView is a block and whether its header signature checks.
type blockView struct {
	B        apitype.BlockAnswer
	Verified bool
	Error    string
}

func (s *Server) block(ctx context.Context, h uint64) (*blockView, error) {
	var b apitype.BlockAnswer
	if err := s.ledgerGet(ctx, "/v1/blocks/"+strconv.FormatUint(h, 10), &b); err != nil {
		return nil, err
	}
	bv := &blockView{B: b}
	bv.Error = s.checkBlock(&b)
	bv.Verified = bv.Error == ""
	return bv, nil
}

// checkBlock checks a block answer's header against its hash and its
// signature against the genesis validator keys; "" means it checks.
func (s *Server) checkBlock(b *apitype.BlockAnswer) string {
	raw, err := base64.StdEncoding.DecodeString(b.HeaderRaw)
	if err != nil {
		return "the header is not base64"
	}
	hdr, err := ledger.DecodeHeader(raw)
	if err != nil {
		return "the header does not decode"
	}
	hh := hdr.Hash()
	if hh != b.Hash || hdr.Height != b.Header.Height || hdr.TxLogRoot != b.Header.TxLogRoot || hdr.AppHash != b.Header.AppHash {
		return "the header fields differ from the signed header"
	}
	pub, ok := s.deps.Validators[b.SignedBy]
	if !ok {
		return "signed by " + b.SignedBy + ", which is not a validator in the genesis"
	}
	sig, err := base64.StdEncoding.DecodeString(b.Signature)
	if err != nil || !ed25519.Verify(pub, hh[:], sig) {
		return "the signature does not verify with " + b.SignedBy + "'s key"
	}
	if uint64(len(b.Txs)) != hdr.TxCount {
		return "the block lists " + strconv.Itoa(len(b.Txs)) + " transactions, its header " + strconv.FormatUint(hdr.TxCount, 10)
	}
	return ""
}

// explorerBlocks is how many recent blocks the explorer lists.
const explorerBlocks = 15

var hashRE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// serveLedger is the explorer's start: the signed tree head, the latest
// blocks, a search box and the whole-ledger check.
func (s *Server) serveLedger(w http.ResponseWriter, r *http.Request, c *call) {
	if q := strings.TrimSpace(r.URL.Query().Get("q")); q != "" {
		if hashRE.MatchString(q) {
			http.Redirect(w, r, "/app/ledger/tx/"+strings.ToLower(q), http.StatusSeeOther)
			return
		}
		if h, err := strconv.ParseUint(q, 10, 64); err == nil && h > 0 {
			http.Redirect(w, r, "/app/ledger/blocks/"+strconv.FormatUint(h, 10), http.StatusSeeOther)
			return
		}
		c.sess.addFlash("error", "Enter a block height (a number) or a transaction hash (64 hexadecimal digits).")
		http.Redirect(w, r, "/app/ledger", http.StatusSeeOther)
		return
	}
	hv, err := s.head(r.Context())
	if err != nil && !errors.Is(err, errLedgerNotFound) {
		s.log.Error("read tree head", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "Try again later", "The ledger could not be read.")
		return
	}
	var blocks []*blockView
	for h := s.deps.Height(); h > 0 && len(blocks) < explorerBlocks; h-- {
		bv, err := s.block(r.Context(), h)
		if err != nil {
			break
		}
		blocks = append(blocks, bv)
	}
	s.render(w, r, http.StatusOK, "ledger", s.newView(r, c, "Ledger explorer", struct {
		Head   *headView
		Blocks []*blockView
		Job    *verifyStatus
	}{hv, blocks, s.verifyStatus()}))
}

// serveBlock shows one block.
func (s *Server) serveBlock(w http.ResponseWriter, r *http.Request, c *call) {
	h, err := strconv.ParseUint(r.PathValue("h"), 10, 64)
	if err != nil || h == 0 {
		s.fail(w, r, http.StatusNotFound, "No such block", "Block heights are whole numbers from 1.")
		return
	}
	bv, err := s.block(r.Context(), h)
	if errors.Is(err, errLedgerNotFound) {
		s.fail(w, r, http.StatusNotFound, "No such block", "There is no block at height "+strconv.FormatUint(h, 10)+" (the latest is "+strconv.FormatUint(s.deps.Height(), 10)+").")
		return
	}
	if err != nil {
		s.log.Error("read block", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "Try again later", "The ledger could not be read.")
		return
	}
	s.render(w, r, http.StatusOK, "block", s.newView(r, c, "Block "+strconv.FormatUint(h, 10), struct {
		*blockView
		Prev, Next uint64
		HasNext    bool
	}{bv, h - 1, h + 1, h < s.deps.Height()}))
}

// txPage is a transaction with its checked inclusion proof.
type txPage struct {
	A       apitype.TxAnswer
	Proof   *proofView
	Hashes  string // the audit path, comma-separated, for the browser's own check
	Payload string // indented JSON, or a note
}

// serveTx shows a transaction, its receipt and its inclusion proof,
// checked against the signed tree head.
func (s *Server) serveTx(w http.ResponseWriter, r *http.Request, c *call) {
	hs := strings.ToLower(r.PathValue("hash"))
	if !hashRE.MatchString(hs) {
		s.fail(w, r, http.StatusNotFound, "No such transaction", "A transaction hash is 64 hexadecimal digits.")
		return
	}
	var a apitype.TxAnswer
	err := s.ledgerGet(r.Context(), "/v1/tx/"+hs, &a)
	if errors.Is(err, errLedgerNotFound) {
		s.fail(w, r, http.StatusNotFound, "No such transaction", "No committed transaction has this hash.")
		return
	}
	if err != nil {
		s.log.Error("read tx", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "Try again later", "The ledger could not be read.")
		return
	}
	pg := &txPage{A: a, Proof: s.verifyAnswer(a, hs), Hashes: strings.Join(auditPath(a), ",")}
	if p, err := base64.StdEncoding.DecodeString(a.Tx.Payload); err == nil {
		var buf bytes.Buffer
		if len(p) > 64<<10 {
			pg.Payload = "(" + strconv.Itoa(len(p)) + " bytes: too large to show)"
		} else if json.Indent(&buf, p, "", "  ") == nil {
			pg.Payload = buf.String()
		} else {
			pg.Payload = "(" + strconv.Itoa(len(p)) + " bytes, not JSON)"
		}
	}
	s.render(w, r, http.StatusOK, "tx", s.newView(r, c, "Transaction "+hs[:12], pg))
}

// verifyJob is a whole-ledger check in progress or done. Its fields
// change under Server.verifyMu.
type verifyJob struct {
	by      string
	started time.Time
	done    bool
	res     VerifyResult
	err     error
	// at and last are the job's progress (blocks done, last block).
	at, last uint64
}

// verifyStatus is what the page shows of the job.
type verifyStatus struct {
	Running  bool
	Done     bool
	By       string
	Started  time.Time
	At, Last uint64
	Result   VerifyResult
	Error    string
}

func (s *Server) verifyStatus() *verifyStatus {
	s.verifyMu.Lock()
	defer s.verifyMu.Unlock()
	j := s.verifyJob
	if j == nil {
		return nil
	}
	vs := &verifyStatus{Running: !j.done, Done: j.done, By: j.by, Started: j.started, At: j.at, Last: j.last, Result: j.res}
	if j.err != nil {
		vs.Error = "The check could not run: the ledger copy could not be made or read."
	}
	return vs
}

// postVerifyLedger starts re-checking the whole ledger, unless a check is
// already running.
func (s *Server) postVerifyLedger(w http.ResponseWriter, r *http.Request, c *call) {
	s.verifyMu.Lock()
	if s.verifyJob != nil && !s.verifyJob.done {
		s.verifyMu.Unlock()
		c.sess.addFlash("warning", "A check of the whole ledger is already running.")
		http.Redirect(w, r, "/app/ledger/verify", http.StatusSeeOther)
		return
	}
	j := &verifyJob{by: c.p.Member, started: s.now()}
	s.verifyJob = j
	s.verifyMu.Unlock()
	s.log.Info("whole-ledger check started", "member", c.p.Member)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		res, err := s.deps.Verify(ctx, func(done, last uint64) {
			s.verifyMu.Lock()
			j.at, j.last = done, last
			s.verifyMu.Unlock()
		})
		if err != nil {
			s.log.Error("whole-ledger check", "err", err)
		}
		s.verifyMu.Lock()
		j.done, j.res, j.err = true, res, err
		s.verifyMu.Unlock()
	}()
	http.Redirect(w, r, "/app/ledger/verify", http.StatusSeeOther)
}

// serveVerifyLedger shows the whole-ledger check; htmx polls its
// fragment while it runs, and without JavaScript the page offers a
// refresh link.
func (s *Server) serveVerifyLedger(w http.ResponseWriter, r *http.Request, c *call) {
	s.render(w, r, http.StatusOK, "verify_ledger", s.newView(r, c, "Verify the whole ledger", s.verifyStatus()))
}

// auditPath returns a proof's audit path in hex.
func auditPath(a apitype.TxAnswer) []string {
	out := make([]string, len(a.Proof.Hashes))
	for i, h := range a.Proof.Hashes {
		out[i] = h.String()
	}
	return out
}
