package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/medledger/medledger/internal/home"
)

// RotateResult says what a key rotation did.
type RotateResult struct {
	Rotated string  `json:"rotated"` // "kek" or "dek"
	Patient string  `json:"patient,omitempty"`
	Seconds float64 `json:"seconds"`
}

// serveRotate rotates keys while the node serves: the key-encryption
// key (every data key is re-wrapped under a new one; data is not
// re-encrypted), or one patient's data key (new versions use a new key;
// old ones stay readable).
func (n *Node) serveRotate(w http.ResponseWriter, r *http.Request) {
	if n.fhir == nil {
		http.Error(w, "this node keeps no records", http.StatusNotImplemented)
		return
	}
	start := time.Now()
	res := RotateResult{Rotated: "kek"}
	var err error
	if id := r.URL.Query().Get("patient"); id != "" {
		res.Rotated, res.Patient = "dek", id
		err = n.fhir.keys.RotateDEK(n.fhir.keys.Pseudonym("Patient", id))
	} else {
		err = n.fhir.keys.RotateKEK()
	}
	if err != nil {
		n.log.Error("key rotation failed", "kind", res.Rotated, "err", err)
		http.Error(w, "key rotation failed; see the node log", http.StatusInternalServerError)
		return
	}
	res.Seconds = time.Since(start).Seconds()
	n.log.Info("keys rotated", "kind", res.Rotated, "seconds", res.Seconds)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}

// RotateKeys asks the node serving home h to rotate its key-encryption
// key, or, with patient set (a FHIR Patient id), that patient's data key.
// The node keeps serving throughout.
func RotateKeys(ctx context.Context, h home.Home, patient string) (*RotateResult, error) {
	u := "http://admin/admin/rotate"
	if patient != "" {
		u += "?patient=" + url.QueryEscape(patient)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := AdminClient(h).Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v (start the node with medledger serve --home %s)", errNoNode, err, h.Dir)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("the node refused: %s: %s", resp.Status, b)
	}
	var res RotateResult
	return &res, json.NewDecoder(resp.Body).Decode(&res)
}
