package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTestnetJoinNodeID writes a testnet, checks each home's config (its
// own loopback address, the others as peers, consensus cometbft), then
// makes a full node's home from the testnet's genesis.
func TestTestnetJoinNodeID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	code, stdout, stderr := run(t, "testnet", "--validators", "3", "--dir", dir, "--json")
	if code != 0 {
		t.Fatalf("testnet: exit %d: %s", code, stderr)
	}
	var ans struct {
		ChainID string `json:"chain_id"`
		Nodes   []struct {
			Home   string `json:"home"`
			NodeID string `json:"node_id"`
			HTTP   string `json:"http"`
			P2P    string `json:"p2p"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(stdout), &ans); err != nil || len(ans.Nodes) != 3 {
		t.Fatalf("testnet answer %q: %v", stdout, err)
	}
	for i, n := range ans.Nodes {
		b, err := os.ReadFile(filepath.Join(n.Home, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Addr      string `json:"addr"`
			Consensus string `json:"consensus"`
			CometBFT  struct {
				P2PAddr string   `json:"p2p_addr"`
				Peers   []string `json:"peers"`
			} `json:"cometbft"`
		}
		if err := json.Unmarshal(b, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Addr != n.HTTP || cfg.Consensus != "cometbft" || cfg.CometBFT.P2PAddr != "tcp://"+n.P2P || len(cfg.CometBFT.Peers) != 2 {
			t.Errorf("node %d config: %s", i, b)
		}
		for _, p := range cfg.CometBFT.Peers {
			if strings.HasPrefix(p, n.NodeID+"@") {
				t.Errorf("node %d lists itself as a peer", i)
			}
		}
		if code, out, _ := run(t, "node-id", "--home", n.Home); code != 0 || strings.TrimSpace(out) != n.NodeID {
			t.Errorf("node-id of node %d = %q (exit %d); want %s", i, out, code, n.NodeID)
		}
	}
	full := filepath.Join(t.TempDir(), "full")
	code, stdout, stderr = run(t, "join", "--genesis", filepath.Join(ans.Nodes[0].Home, "genesis.json"), "--home", full, "--json")
	if code != 0 || !strings.Contains(stdout, ans.ChainID) {
		t.Fatalf("join: exit %d: %s %s", code, stdout, stderr)
	}
	if code, _, stderr := run(t, "testnet", "--validators", "2", "--dir", dir); code == 0 {
		t.Errorf("testnet over an existing one: exit 0, stderr %q", stderr)
	}
}
