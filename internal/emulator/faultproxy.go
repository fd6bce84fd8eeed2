package emulator

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Fault is one kind of failure FaultProxy injects in place of (or after) a
// real answer.
type Fault string

// The faults. Throttles use the wire shape of the request's protocol, so the
// SDK's own deserialiser turns them into the error codes AWS would send; the
// 5xx faults carry bodies that are not AWS errors (a load balancer's page, an
// empty body), so the product must fall back on the status.
const (
	// ThrottlingException: KMS JSON protocol, HTTP 400 {"__type":"ThrottlingException"}.
	FaultThrottling Fault = "ThrottlingException"
	// KMSThrottlingException: same shape, KMS's own code.
	FaultKMSThrottling Fault = "KMSThrottlingException"
	// SNSThrottled: query-protocol XML error, HTTP 400, code Throttled.
	FaultSNSThrottled Fault = "Throttled"
	// HTTP500: a plain-text 500 (no AWS error body).
	FaultHTTP500 Fault = "HTTP500"
	// HTTP503: an empty 503.
	FaultHTTP503 Fault = "HTTP503"
	// Slow: the request reaches the emulator and succeeds there, but the answer
	// comes only after FaultOptions.SlowDelay (past the client's timeout): the
	// caller cannot know whether a write happened.
	FaultSlow Fault = "Slow"
	// Drop: the connection is closed before the request reaches the emulator.
	FaultDrop Fault = "Drop"
	// DropAfter: the request is applied by the emulator, then the connection
	// is closed without an answer.
	FaultDropAfter Fault = "DropAfter"
)

// AllFaults is every fault, in a fixed order (the choice, from a fixed random seed, indexes it).
var AllFaults = []Fault{FaultThrottling, FaultKMSThrottling, FaultSNSThrottled, FaultHTTP500,
	FaultHTTP503, FaultSlow, FaultDrop, FaultDropAfter}

// FaultRule makes requests for some operations fail at a rate.
type FaultRule struct {
	// Ops are IAM-style operation names ("kms:PutKeyPolicy", "sns:GetTopicAttributes");
	// "kms:*" or "*" match a whole service or everything.
	Ops []string
	// Rate is the chance (0..1) that a matching request gets a fault.
	Rate float64
	// Faults to choose from (nil = every fault that fits the protocol).
	Faults []Fault
}

// FaultOptions configures NewFaultProxy.
type FaultOptions struct {
	// Target is the emulator's URL (for example Kumo.URL).
	Target string
	// Seed makes the schedule deterministic: the n-th request of a run gets the
	// same decision for the same seed, rules and request order.
	Seed int64
	// Rules, checked in order; the first whose Ops match a request decides.
	Rules []FaultRule
	// SlowDelay is how long a Slow answer is held (default 2 s); make it longer
	// than the client's per-attempt timeout.
	SlowDelay time.Duration
	// Before, when set, is called for every request before any fault or
	// forwarding, with the request's operation and its per-operation
	// sequence number (1 for the first kms:GetKeyPolicy, ...). Tests use it to
	// change the emulator's state at an exact point of the guard's work.
	Before func(op string, n int, body []byte)
}

// FaultProxy is a loopback reverse proxy in front of an emulator that injects
// AWS-shaped faults on a seeded schedule and counts what it did. Point the
// SDK at URL (AWS_ENDPOINT_URL). It is safe for concurrent use.
type FaultProxy struct {
	URL string

	opts  FaultOptions
	proxy *httputil.ReverseProxy
	srv   *http.Server
	ln    net.Listener

	mu        sync.Mutex
	rng       *rand.Rand
	rules     []FaultRule
	seq       map[string]int
	injected  map[string]int // "op fault"
	forwarded map[string]int // "op status" as the emulator answered
	closed    chan struct{}
}

// NewFaultProxy listens on a free loopback port and forwards to opts.Target.
func NewFaultProxy(opts FaultOptions) (*FaultProxy, error) {
	target, err := url.Parse(opts.Target)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("fault proxy target %q: not a URL", opts.Target)
	}
	if opts.SlowDelay <= 0 {
		opts.SlowDelay = 2 * time.Second
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{URL: "http://" + ln.Addr().String(), opts: opts, ln: ln, closed: make(chan struct{})}
	p.reset(opts.Seed, opts.Rules)
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = target.Host },
		// A fresh connection per request keeps one dropped or slow request from
		// poisoning the next through a shared keep-alive connection.
		Transport: &http.Transport{DisableKeepAlives: true},
		ErrorLog:  nil,
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the proxy; held slow answers are released at once.
func (p *FaultProxy) Close() error {
	close(p.closed)
	return p.srv.Close()
}

// Reset starts a new schedule: a new seed and rules, sequence numbers from
// one. Counters are kept (read them with Injected and Forwarded).
func (p *FaultProxy) Reset(seed int64, rules []FaultRule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reset(seed, rules)
}

func (p *FaultProxy) reset(seed int64, rules []FaultRule) {
	p.rng = rand.New(rand.NewSource(seed))
	p.rules = rules
	p.seq = map[string]int{}
	if p.injected == nil {
		p.injected, p.forwarded = map[string]int{}, map[string]int{}
	}
}

// SetBefore replaces the Before hook.
func (p *FaultProxy) SetBefore(fn func(op string, n int, body []byte)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opts.Before = fn
}

// Injected returns the faults injected so far by "op fault"
// (for example "kms:PutKeyPolicy DropAfter").
func (p *FaultProxy) Injected() map[string]int { return p.snapshot(p.injected) }

// Forwarded returns the requests the emulator answered, by "op status"
// (for example "kms:PutKeyPolicy 200"); a request whose answer was then
// delayed or dropped is counted here too.
func (p *FaultProxy) Forwarded() map[string]int { return p.snapshot(p.forwarded) }

func (p *FaultProxy) snapshot(m map[string]int) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Total sums a counter map, optionally only keys starting with prefix.
func Total(m map[string]int, prefix string) int {
	n := 0
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// Keys returns the map's keys sorted (for stable test messages).
func Keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// protocol is how a request is encoded, which decides the shape of a throttle.
type protocol int

const (
	protoJSON  protocol = iota // X-Amz-Target (KMS, EventBridge, Config, Security Hub)
	protoQuery                 // form Action= (SNS, STS)
	protoOther                 // CBOR RPC (CloudWatch) and anything else
)

var credentialScope = regexp.MustCompile(`Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request`)

// operation names a request IAM-style: "kms:PutKeyPolicy". The service comes
// from the SigV4 credential scope (the signing name), the operation from the
// protocol: X-Amz-Target, the form's Action, or the RPC path.
func operation(r *http.Request, body []byte) (string, protocol) {
	svc := "unknown"
	if m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		svc = m[1]
	}
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return svc + ":" + t[strings.LastIndex(t, ".")+1:], protoJSON
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") != "" {
			return svc + ":" + v.Get("Action"), protoQuery
		}
	}
	if i := strings.LastIndex(r.URL.Path, "/operation/"); i >= 0 {
		return svc + ":" + r.URL.Path[i+len("/operation/"):], protoOther
	}
	return svc + ":" + r.Method + " " + r.URL.Path, protoOther
}

func (rule FaultRule) matches(op string) bool {
	svc, _, _ := strings.Cut(op, ":")
	for _, o := range rule.Ops {
		if o == "*" || strings.EqualFold(o, op) || strings.EqualFold(o, svc+":*") {
			return true
		}
	}
	return false
}

// fits says whether a fault can be expressed in a protocol: throttle bodies
// are protocol-specific; CBOR throttles are not built here.
func fits(f Fault, proto protocol) bool {
	switch f {
	case FaultThrottling, FaultKMSThrottling:
		return proto == protoJSON
	case FaultSNSThrottled:
		return proto == protoQuery
	}
	return true
}

// decide draws the fault for one request (under p.mu). Exactly two draws are
// taken per matching request, so the schedule does not depend on which
// faults a rule lists.
func (p *FaultProxy) decide(op string, proto protocol) Fault {
	for _, rule := range p.rules {
		if !rule.matches(op) {
			continue
		}
		roll, pick := p.rng.Float64(), p.rng.Intn(1<<30)
		if roll >= rule.Rate {
			return ""
		}
		candidates := rule.Faults
		if candidates == nil {
			candidates = AllFaults
		}
		var ok []Fault
		for _, f := range candidates {
			if fits(f, proto) {
				ok = append(ok, f)
			}
		}
		if len(ok) == 0 {
			return ""
		}
		return ok[pick%len(ok)]
	}
	return ""
}

func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	op, proto := operation(r, body)

	p.mu.Lock()
	p.seq[op]++
	n := p.seq[op]
	before := p.opts.Before
	fault := p.decide(op, proto)
	if fault != "" {
		p.injected[op+" "+string(fault)]++
	}
	p.mu.Unlock()

	if before != nil {
		before(op, n, body)
	}
	switch fault {
	case FaultThrottling, FaultKMSThrottling:
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":%q,"message":"Rate exceeded (injected)"}`, string(fault))
		return
	case FaultSNSThrottled:
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>`+
			`<Code>Throttled</Code><Message>Rate exceeded (injected)</Message></Error>`+
			`<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>`)
		return
	case FaultHTTP500:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "Internal Server Error\n")
		return
	case FaultHTTP503:
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case FaultDrop:
		hangUp(w)
		return
	}
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	p.proxy.ServeHTTP(rec, r)
	p.mu.Lock()
	p.forwarded[fmt.Sprintf("%s %d", op, rec.status)]++
	p.mu.Unlock()
	switch fault {
	case FaultDropAfter:
		hangUp(w)
		return
	case FaultSlow:
		t := time.NewTimer(p.opts.SlowDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return // the client gave up: its timeout worked
		case <-p.closed:
			return
		}
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

// hangUp closes the client's connection without an HTTP answer.
func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // a reset, as a crashed peer or load balancer sends
	}
	_ = conn.Close()
}

// recorder buffers the emulator's answer so the proxy can count it, then
// deliver, delay or drop it.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }
