package ledger

// Result is the outcome of executing one transaction.
//
//	1 code    string (a Code)
//	2 message string (safe for the submitter; never payload contents)
//	3 events  bytes, repeated (canonical Event encodings)
type Result struct {
	Code    Code    `json:"code"`
	Message string  `json:"message,omitempty"`
	Events  []Event `json:"events,omitempty"`
}

// Receipt is the answer to a committed transaction: where it is on the
// ledger and how it ended.
type Receipt struct {
	TxHash    Hash   `json:"tx_hash"`
	Height    uint64 `json:"height"`
	Index     uint32 `json:"index"`
	Leaf      uint64 `json:"leaf_index"` // position in the tx log
	BlockHash Hash   `json:"block_hash"`
	Result    Result `json:"result"`
}

// Event is a typed, ordered list of attributes a contract emits; indexers
// and detectors consume them.
//
//	1 type  string
//	2 attrs bytes, repeated (each: 1 key string, 2 value string)
type Event struct {
	Type  string `json:"type"`
	Attrs []Attr `json:"attrs,omitempty"`
}

// Attr is one event attribute.
type Attr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Get returns the value of the first attribute named key.
func (e Event) Get(key string) (string, bool) {
	for _, a := range e.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// Limits on results, so one transaction cannot bloat a block.
const (
	MaxMessageLen = 1024
	MaxEvents     = 64
	MaxAttrs      = 64
	MaxAttrLen    = 4096
)

// Encode returns the canonical encoding of r.
func (r *Result) Encode() []byte {
	e := encoder{b: make([]byte, 0, 64)}
	e.string(1, string(r.Code))
	e.string(2, r.Message)
	for _, ev := range r.Events {
		ee := encoder{}
		ee.string(1, ev.Type)
		for _, a := range ev.Attrs {
			ae := encoder{}
			ae.string(1, a.Key)
			ae.string(2, a.Value)
			ee.bytes(2, ae.b)
		}
		e.bytes(3, ee.b)
	}
	return e.b
}

// DecodeResult strictly decodes a canonical result.
func DecodeResult(b []byte) (Result, error) {
	d := decoder{b: b, what: "result"}
	r := Result{
		Code:    Code(d.string(1, "code", MaxNameLen)),
		Message: d.string(2, "message", MaxMessageLen),
	}
	for d.peek(3) {
		if len(r.Events) == MaxEvents {
			d.fail("more than %d events", MaxEvents)
			break
		}
		eb := d.bytes(3, "event", MaxTxBytes)
		ed := decoder{b: eb, what: "event"}
		ev := Event{Type: ed.string(1, "type", MaxNameLen)}
		for ed.peek(2) {
			if len(ev.Attrs) == MaxAttrs {
				ed.fail("more than %d attributes", MaxAttrs)
				break
			}
			ab := ed.bytes(2, "attr", 2*MaxAttrLen+16)
			ad := decoder{b: ab, what: "attr"}
			a := Attr{Key: ad.string(1, "key", MaxNameLen), Value: ad.string(2, "value", MaxAttrLen)}
			if err := ad.end(); err != nil {
				ed.fail("%v", err)
			}
			ev.Attrs = append(ev.Attrs, a)
		}
		if err := ed.end(); err != nil {
			d.fail("%v", err)
		}
		r.Events = append(r.Events, ev)
	}
	if err := d.end(); err != nil {
		return Result{}, err
	}
	if !r.Code.Valid() {
		return Result{}, Errorf(CodeMalformed, "result: unknown code %q", r.Code)
	}
	return r, nil
}
