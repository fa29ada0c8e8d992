package waf

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/corazawaf/coraza/v3/experimental"
	"github.com/corazawaf/coraza/v3/types"
)

// Action is what the WAF did with a request.
type Action uint8

const (
	// Pass: no rule found an attack.
	Pass Action = iota
	// Detected: rules found an attack and the WAF, in detect mode, let the
	// request through.
	Detected
	// Blocked: the request must be refused with Verdict.Status.
	Blocked
)

func (a Action) String() string {
	switch a {
	case Detected:
		return "detected"
	case Blocked:
		return "blocked"
	}
	return "pass"
}

// maxMatches bounds the rules a Verdict reports (and a log line carries).
const maxMatches = 16

// Verdict is the outcome of one inspection.
type Verdict struct {
	Action Action
	// Status is the status to refuse the request with when Blocked: 403,
	// or 413 for a body over the limit; another 4xx when a rule names one
	// (400 for a body that does not parse).
	Status int
	// Rules are the rules that matched with a message (at most 16), in
	// the order they ran; the last is usually the anomaly score's.
	Rules []Match
	// Err says why a request was refused without a rule: its body could
	// not be read or inspected (Status 400; the caller may know better,
	// such as a body that stalled), or is over the limit (413).
	Err error
}

// Match is one rule that matched.
type Match struct {
	ID      int
	Message string
	// Data is what the rule matched on ("Matched Data: ... found within
	// ARGS:id: ..."), as the rule's logdata renders it.
	Data string
}

// RuleIDs lists the ids of v.Rules.
func (v Verdict) RuleIDs() []int {
	out := make([]int, len(v.Rules))
	for i, m := range v.Rules {
		out[i] = m.ID
	}
	return out
}

// LogValue renders the matched rules for slog: ids, and "id: message".
func (v Verdict) LogValue() slog.Value {
	msgs := make([]string, len(v.Rules))
	for i, m := range v.Rules {
		msgs[i] = fmt.Sprintf("%d: %s", m.ID, m.Message)
		if m.Data != "" {
			msgs[i] += " (" + m.Data + ")"
		}
	}
	attrs := []slog.Attr{slog.String("action", v.Action.String()), slog.Any("rule_ids", v.RuleIDs()), slog.Any("rules", msgs)}
	if v.Err != nil {
		attrs = append(attrs, slog.String("err", v.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// Inspect runs the request phases over r. id names the transaction in
// Coraza's logs (the request id; "" lets Coraza make one). client is the
// client's address as the caller trusts it. body, when r has a body, is
// what it is read from: r.Body itself, or a reader over r.Body that bounds
// the wait for each byte. At most Options.RequestBodyLimit+1 bytes are read;
// r.Body is then replaced by those bytes followed by the rest of r.Body, so
// the request goes on with its body whole.
func (w *WAF) Inspect(r *http.Request, id string, client netip.Addr, body io.Reader) Verdict {
	return w.inspect(r, id, client, body, nil)
}

// inspect is Inspect; done, when not nil, sees the transaction once the
// verdict is reached, before it is closed (the tests read every rule that
// matched).
func (w *WAF) inspect(r *http.Request, id string, client netip.Addr, body io.Reader, done func(types.Transaction)) Verdict {
	if w == nil {
		return Verdict{}
	}
	tx := w.newTransaction(id)
	defer func() {
		if done != nil {
			done(tx)
		}
		tx.Close()
	}()

	tx.ProcessConnection(client.String(), 0, "", 0)
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	tx.ProcessURI(uri, r.Method, r.Proto)
	for name, values := range r.Header {
		for _, v := range values {
			tx.AddRequestHeader(name, v)
		}
	}
	// net/http moves Host and Transfer-Encoding out of the header; the
	// CRS reads both (920280 a missing Host, 920171 smuggling shapes).
	if r.Host != "" {
		tx.AddRequestHeader("Host", r.Host)
		tx.SetServerName(r.Host)
	}
	for _, te := range r.TransferEncoding {
		tx.AddRequestHeader("Transfer-Encoding", te)
	}
	if it := tx.ProcessRequestHeaders(); it != nil {
		return w.verdict(tx, it)
	}
	if r.Body != nil && r.Body != http.NoBody && tx.IsRequestBodyAccessible() {
		if v, done := w.readBody(tx, r, body); done {
			return v
		}
	}
	it, err := tx.ProcessRequestBody()
	if err != nil {
		return Verdict{Action: Blocked, Status: http.StatusBadRequest, Err: fmt.Errorf("waf: inspect request body: %w", err)}
	}
	return w.verdict(tx, it)
}

func (w *WAF) newTransaction(id string) types.Transaction {
	if id != "" {
		if ow, ok := w.waf.(experimental.WAFWithOptions); ok {
			return ow.NewTransactionWithOptions(experimental.Options{ID: id})
		}
	}
	return w.waf.NewTransaction()
}

// readBody reads up to the limit of r's body into tx, and puts what it
// read back in front of the rest. done reports a verdict reached already:
// a body over the limit refused, or a read that failed.
func (w *WAF) readBody(tx types.Transaction, r *http.Request, body io.Reader) (v Verdict, done bool) {
	if body == nil {
		body = r.Body
	}
	limit := w.opts.RequestBodyLimit
	if r.ContentLength > limit && w.rejects() {
		// Known too long before a byte is read.
		return w.tooLarge(), true
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(min(r.ContentLength, limit+1)))
	}
	_, err := io.Copy(&buf, io.LimitReader(body, limit+1))
	r.Body = &prefixedBody{Reader: io.MultiReader(bytes.NewReader(buf.Bytes()), r.Body), closer: r.Body}
	if err != nil {
		return Verdict{Action: Blocked, Status: http.StatusBadRequest, Err: fmt.Errorf("waf: read request body: %w", err)}, true
	}
	inspect := buf.Bytes()
	if int64(len(inspect)) > limit {
		if w.rejects() {
			return w.tooLarge(), true
		}
		inspect = inspect[:limit]
	}
	if it, _, err := tx.WriteRequestBody(inspect); err != nil || it != nil {
		if err != nil {
			return Verdict{Action: Blocked, Status: http.StatusBadRequest, Err: fmt.Errorf("waf: inspect request body: %w", err)}, true
		}
		return w.verdict(tx, it), true
	}
	return Verdict{}, false
}

// rejects reports whether a body over the limit is refused: only blocking
// WAFs refuse anything.
func (w *WAF) rejects() bool { return w.opts.Mode == ModeBlock && w.opts.OversizeBody == BodyReject }

func (w *WAF) tooLarge() Verdict {
	return Verdict{Action: Blocked, Status: http.StatusRequestEntityTooLarge,
		Err: fmt.Errorf("waf: request body over the inspection limit of %d bytes", w.opts.RequestBodyLimit)}
}

// prefixedBody is a request body that was partly read: the bytes read,
// then the rest of the original, which Close closes.
type prefixedBody struct {
	io.Reader
	closer io.Closer
}

func (b *prefixedBody) Close() error { return b.closer.Close() }

// detectionOnly is the method Coraza's transaction has (since 3.4) for the
// interruption that DetectionOnly did not carry out.
type detectionOnly interface {
	DetectionOnlyInterruption() *types.Interruption
}

// logged is the method Coraza's matched rules have for the rule's log
// action.
type logged interface{ Log() bool }

// verdict reads the outcome of tx: it, an interruption carried out (block
// mode), or the one detect mode noted without carrying it out.
func (w *WAF) verdict(tx types.Transaction, it *types.Interruption) Verdict {
	var v Verdict
	switch {
	case it != nil:
		v.Action, v.Status = Blocked, http.StatusForbidden
		if it.Status >= 400 && it.Status < 500 {
			v.Status = it.Status
		}
	case w.opts.Mode == ModeDetect:
		if d, ok := tx.(detectionOnly); ok && d.DetectionOnlyInterruption() != nil {
			v.Action = Detected
		}
	}
	if v.Action == Pass {
		return v // clean traffic allocates no report
	}
	for _, m := range tx.MatchedRules() {
		if l, ok := m.(logged); m.Message() == "" || ok && !l.Log() {
			continue // a nolog rule: the CRS's bookkeeping (901340 "Enabling body inspection")
		}
		v.Rules = append(v.Rules, Match{ID: m.Rule().ID(), Message: m.Message(), Data: m.Data()})
		if len(v.Rules) == maxMatches {
			break
		}
	}
	return v
}
