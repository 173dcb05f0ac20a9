package cometbft

import (
	"context"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

// TestPeerFilter checks the answers CometBFT's peer filters get: every
// connection is accepted while the node runs and refused once it stops,
// and other ABCI queries are refused.
func TestPeerFilter(t *testing.T) {
	a := &App{}
	tests := []struct {
		path    string
		closing bool
		ok      bool
	}{
		{"/p2p/filter/id/f4b04e46b5161123f9d39b543c2a85b63d08f990", false, true},
		{"/p2p/filter/addr/127.0.0.1:26656", false, true},
		{"/p2p/filter/id/f4b04e46b5161123f9d39b543c2a85b63d08f990", true, false},
		{"/p2p/filter/addr/127.0.0.1:26656", true, false},
		{"/store", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		a.closing.Store(tt.closing)
		res, err := a.Query(context.Background(), &abci.RequestQuery{Path: tt.path})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Code == 0; got != tt.ok {
			t.Errorf("Query(%q) with closing=%v: code %d (%s), want accepted=%v", tt.path, tt.closing, res.Code, res.Log, tt.ok)
		}
	}
}
