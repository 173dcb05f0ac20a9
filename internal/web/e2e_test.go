package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/contracts/alerts"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/contracts/models"
)

// e2eSetup finds what the browser tests need: node, Debian's chromium and
// playwright-core as scripts/browser.sh installs them. Where they are
// missing the test fails under CI (CI=true: scripts/browser.sh must have
// installed them) and is skipped, saying what to run, elsewhere;
// MEDLEDGER_SKIP_E2E=1 skips it on purpose.
func e2eSetup(t *testing.T) (nodeBin, chromium, dir string) {
	t.Helper()
	if os.Getenv("MEDLEDGER_SKIP_E2E") == "1" {
		t.Skip("MEDLEDGER_SKIP_E2E=1")
	}
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + ": run scripts/browser.sh (it installs Debian's chromium with apt-get, as root, and playwright-core with npm ci)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir = filepath.Join(repoRoot(t), "scripts", "e2e")
	var err error
	if nodeBin, err = exec.LookPath("node"); err != nil {
		missing("node is not installed")
	}
	chromium = os.Getenv("MEDLEDGER_CHROMIUM")
	for _, c := range []string{"chromium", "chromium-browser"} {
		if chromium != "" {
			break
		}
		chromium, _ = exec.LookPath(c)
	}
	if chromium == "" {
		missing("chromium is not installed")
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil || json.Unmarshal(b, &lock) != nil {
		t.Fatalf("scripts/e2e/package-lock.json: %v", err)
	}
	want := lock.Packages["node_modules/playwright-core"].Version
	var got struct {
		Version string `json:"version"`
	}
	b, err = os.ReadFile(filepath.Join(dir, "node_modules", "playwright-core", "package.json"))
	if err != nil || json.Unmarshal(b, &got) != nil || got.Version != want {
		missing("playwright-core %s is not installed in scripts/e2e/node_modules (found %q)", want, got.Version)
	}
	return nodeBin, chromium, dir
}

// artifactsDir is where the screenshots go: $MEDLEDGER_ARTIFACTS/e2e, or
// artifacts/e2e at the repository root (gitignored).
func artifactsDir(t *testing.T) string {
	d := os.Getenv("MEDLEDGER_ARTIFACTS")
	if d == "" {
		d = filepath.Join(repoRoot(t), "artifacts")
	}
	d = filepath.Join(d, "e2e")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	// Failure screenshots of an earlier run would mislead.
	old, _ := filepath.Glob(filepath.Join(d, "*-failure.png"))
	for _, f := range old {
		os.Remove(f)
	}
	return d
}

type phaseResult struct {
	Phase       string   `json:"phase"`
	OK          bool     `json:"ok"`
	Error       string   `json:"error"`
	URL         string   `json:"url"`
	Screenshots []string `json:"screenshots"`
	Steps       []string `json:"steps"`
	Problems    []string `json:"problems"`
}

// TestDashboardInBrowser drives the dashboard in a real browser through
// the story of issue 7: a patient grants a clinician access; the
// clinician opens the record; the patient sees that access and revokes;
// the clinician is refused (and breaks the glass); the privacy officer
// reviews an alert; the ledger explorer verifies a proof and the whole
// ledger. Each phase is a subtest with its screenshots under
// artifacts/e2e/.
func TestDashboardInBrowser(t *testing.T) {
	nodeBin, chromium, dir := e2eSetup(t)
	out := artifactsDir(t)
	d := startDemoNode(t, 3)
	data, _ := json.Marshal(map[string]string{"patient": d.patient, "family": d.name, "clinician": "demo-clinician", "org": d.org})
	start := time.Now()
	failed := false
	phase := func(name string) {
		t.Run(name, func(t *testing.T) {
			if failed {
				t.Skip("an earlier phase failed")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, nodeBin, filepath.Join(dir, "dashboard.mjs"), name)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "E2E_BASE="+d.url, "E2E_OUT="+out, "E2E_CHROMIUM="+chromium, "E2E_DATA="+string(data), "NO_COLOR=1")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			began := time.Now()
			stdout, err := cmd.Output()
			var res phaseResult
			line := strings.TrimSpace(string(stdout))
			if i := strings.LastIndex(line, "\n"); i >= 0 {
				line = line[i+1:]
			}
			if jerr := json.Unmarshal([]byte(line), &res); jerr != nil || err != nil || !res.OK {
				failed = true
				t.Fatalf("phase %s failed after %v: %v\nerror: %s\nat: %s\nsteps done: %q\nbrowser: %q\nscreenshots: %q\nstdout: %.2000s\nstderr: %.2000s",
					name, time.Since(began).Round(time.Millisecond), err, res.Error, res.URL, res.Steps, res.Problems, res.Screenshots, stdout, stderr.String())
			}
			for _, s := range res.Steps {
				t.Log(s)
			}
			t.Logf("%v; screenshots: %s", time.Since(began).Round(time.Millisecond), strings.Join(res.Screenshots, ", "))
		})
	}
	phase("admin-policy")
	phase("patient-grant")
	phase("clinician-read")
	phase("patient-log-revoke")
	phase("clinician-refused")
	if !failed {
		d.openAlert(t)
	}
	phase("officer-alert")
	phase("explorer")
	phase("nojs")
	t.Logf("browser tests took %v", time.Since(start).Round(time.Millisecond))
	if strings.Contains(d.logs.String(), d.name) {
		t.Error("the node log holds the patient's name")
	}
}

// openAlert raises an alert about the clinician's accesses, as the access
// monitor would: a model registered by the administrator, then
// alerts.open (signed by the administrator) naming the clinician's
// AuditEvents.
func (d *demoNode) openAlert(t *testing.T) {
	t.Helper()
	clinician := d.member("demo-clinician")
	var events []string
	st := d.n.Store()
	err := st.Scan([]byte("audit/"+audit.MemberPrefix(clinician)), ^uint64(0), func(k, v []byte) bool {
		evs, err := audit.IndexEvents(k, v)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, evs...)
		return len(events) < 20
	})
	if err != nil || len(events) == 0 {
		t.Fatalf("the clinician's audit events: %d, %v", len(events), err)
	}
	file := []byte(`{"name":"access-test","version":"1.0.0"}`)
	sum := sha256.Sum256(file)
	sha := hex.EncodeToString(sum[:])
	train := sha256.Sum256([]byte("training data"))
	reg, _ := json.Marshal(models.Register{Name: "access-test", Version: "1.0.0", Detector: "access", SHA256: sha,
		TrainingDataSHA256: hex.EncodeToString(train[:]), Metrics: map[string]float64{"roc_auc": 0.97, "recall": 0.91}})
	d.submit(d.admin, "models", "register", reg)
	open, _ := json.Marshal(alerts.Open{Detector: "access", Events: events, Score: 0.93, User: clinician,
		Reasons: []alerts.Reason{
			{Code: "break_glass", Text: "emergency access (break-glass) without an emergency encounter"},
			{Code: "revoked_consent", Text: "access shortly after the patient revoked consent"},
		},
		Model: alerts.ModelRef{Name: "access-test", Version: "1.0.0", SHA256: sha}})
	d.submit(d.admin, "alerts", "open", open)
}
