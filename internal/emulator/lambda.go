package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LambdaService is Lambda's Invoke API in front of functions running under
// aws-lambda-rie: aws-lambda-rie runs one function and answers only a
// synchronous invoke on its own fixed path, with no asynchronous queue, so a
// function that starts another invocation of itself (a Config sweep handing
// the rest of its topics over) needs this to run end to end.
//
// What it serves, from the Invoke API reference
// (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html):
// POST /2015-03-31/functions/{FunctionName}/invocations, the function named by
// name, ARN or partial ARN (123456789012:function:name), optionally with the
// $LATEST qualifier; X-Amz-Invocation-Type RequestResponse (default: 200 with
// the function's response, X-Amz-Function-Error when it failed), Event (202,
// empty body, the event queued) or DryRun (204). Errors in the restJson1 shape
// the SDKs read (X-Amzn-ErrorType header, {"Type","message"} body): an unknown
// function ResourceNotFoundException (404); a payload over the quota
// RequestTooLargeException (413), "For synchronous invocations, the maximum
// payload size is 6 MB. For asynchronous invocations, the maximum payload
// size is 1 MB" (same page; the 256 KB limit belongs to the deprecated
// InvokeAsync action); TooManyRequestsException (429) and ServiceException
// (500) only when a test injects them (FailInvokes).
//
// What an Event invocation does, from "How Lambda handles errors and retries
// with asynchronous invocation"
// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html,
// part of https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html):
//   - the event is queued and delivered at least once, one invocation at a
//     time per function (one execution environment: an invocation that
//     queues another of its own function is finished before the next starts);
//   - a function error (the code's error or the runtime's, such as a timeout)
//     is retried MaxRetries times (Lambda's default, 2) after RetryDelays
//     (Lambda waits one minute, then two; tests shorten them), and the event
//     is then discarded (Discarded: where an on-failure destination or a
//     dead-letter queue would get it);
//   - a failure to run the function at all (aws-lambda-rie not answering) is
//     Lambda's system error: the event goes back to the queue and is retried
//     with exponential backoff from one second, up to MaxEventAge.
//
// Not modelled: the duplicate deliveries an eventually consistent queue may
// make without any error, concurrency (parallel execution environments,
// reserved concurrency, throttled deliveries), qualifiers other than
// $LATEST, ClientContext and LogType Tail. The service checks no credentials:
// the IAM proxy in front of it (Stack) authorizes lambda:InvokeFunction.
type LambdaService struct {
	// URL is the endpoint (AWS_ENDPOINT_URL_LAMBDA).
	URL string
	// Account and Region are where the functions live (their ARNs).
	Account, Region string
	// MaxRetries and RetryDelays are the asynchronous retries on a function
	// error; MaxEventAge bounds the retries of system errors.
	MaxRetries  int
	RetryDelays []time.Duration
	MaxEventAge time.Duration

	srv *httptest.Server

	mu         sync.Mutex
	fns        map[string]*lambdaFn
	faults     []string // error codes the next Invoke API calls answer
	deliveries []Delivery
	discarded  []AsyncEvent
	pending    int // events queued or running
	idle       *sync.Cond
	seq        int
	closed     bool
	stop       chan struct{}
}

// lambdaFn is one deployed function: its runtime and its event queue.
type lambdaFn struct {
	name  string
	fn    *Function
	run   sync.Mutex // one invocation at a time
	queue chan AsyncEvent
}

// AsyncEvent is one event of a function's asynchronous queue.
type AsyncEvent struct {
	Function  string
	RequestID string
	Payload   []byte
	Queued    time.Time
}

// Delivery is one attempt to run an asynchronous event.
type Delivery struct {
	AsyncEvent
	Attempt  int    // 1 for the first attempt
	Response []byte // the function's response (the error envelope on a function error)
	// Err is the function's error (*FunctionError) or the system error that
	// kept it from running; nil on success.
	Err error
}

// Lambda's documented defaults for asynchronous invocation (see
// LambdaService).
const (
	LambdaMaxRetries       = 2
	LambdaMaxEventAge      = 6 * time.Hour
	LambdaMaxSyncPayload   = 6 * 1024 * 1024
	LambdaMaxAsyncPayload  = 1024 * 1024
	lambdaSystemRetryFirst = time.Second
	lambdaSystemRetryMax   = 5 * time.Minute
)

// LambdaRetryDelays are the waits before the second and third attempts.
var LambdaRetryDelays = []time.Duration{time.Minute, 2 * time.Minute}

// NewLambdaService starts the service on a loopback port for functions of
// account and region, with Lambda's default retries; Close stops it.
func NewLambdaService(account, region string) *LambdaService {
	l := &LambdaService{Account: account, Region: region, MaxRetries: LambdaMaxRetries,
		RetryDelays: append([]time.Duration(nil), LambdaRetryDelays...), MaxEventAge: LambdaMaxEventAge,
		fns: map[string]*lambdaFn{}, stop: make(chan struct{})}
	l.idle = sync.NewCond(&l.mu)
	l.srv = httptest.NewServer(http.HandlerFunc(l.serve))
	l.URL = l.srv.URL
	return l
}

// Close stops the service; queued events are dropped.
func (l *LambdaService) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.stop)
	}
	l.idle.Broadcast()
	l.mu.Unlock()
	l.srv.Close()
}

// Deploy makes fn the function called name (the name in its ARN,
// "<stack>-config-rule"). The function's AWS_LAMBDA_FUNCTION_NAME should be
// the same name, as Lambda sets it.
func (l *LambdaService) Deploy(name string, fn *Function) {
	f := &lambdaFn{name: name, fn: fn, queue: make(chan AsyncEvent, 1024)}
	l.mu.Lock()
	l.fns[name] = f
	l.mu.Unlock()
	go l.worker(f)
}

// ARN is the ARN of the function called name.
func (l *LambdaService) ARN(name string) string {
	return "arn:aws:lambda:" + l.Region + ":" + l.Account + ":function:" + name
}

// FailInvokes makes the next Invoke API calls answer these errors, one each,
// in order: "TooManyRequestsException" (429) or "ServiceException" (500).
// Events queued by Enqueue are not affected.
func (l *LambdaService) FailInvokes(codes ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.faults = append(l.faults, codes...)
}

// Enqueue queues payload for the function called name as an Event
// invocation, the way an AWS service that invokes a function asynchronously
// hands it over (without the Invoke API's faults). It returns the request id.
func (l *LambdaService) Enqueue(name string, payload []byte) (string, error) {
	l.mu.Lock()
	f := l.fns[name]
	l.mu.Unlock()
	if f == nil {
		return "", fmt.Errorf("function not found: %s", l.ARN(name))
	}
	return l.enqueue(f, payload), nil
}

func (l *LambdaService) enqueue(f *lambdaFn, payload []byte) string {
	l.mu.Lock()
	l.seq++
	ev := AsyncEvent{Function: f.name, RequestID: fmt.Sprintf("00000000-0000-4000-8000-%012d", l.seq),
		Payload: append([]byte(nil), payload...), Queued: time.Now()}
	l.pending++
	l.mu.Unlock()
	f.queue <- ev
	return ev.RequestID
}

// Wait returns once no event is queued or running (every asynchronous
// invocation and the ones they started have ended), or when ctx ends.
func (l *LambdaService) Wait(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.idle.Broadcast()
		l.mu.Unlock()
	})
	defer stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.pending > 0 && !l.closed {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("lambda: %d events still queued or running: %w", l.pending, err)
		}
		l.idle.Wait()
	}
	return nil
}

// Deliveries returns every attempt so far, in order.
func (l *LambdaService) Deliveries() []Delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Delivery(nil), l.deliveries...)
}

// Discarded returns the events whose every attempt failed.
func (l *LambdaService) Discarded() []AsyncEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]AsyncEvent(nil), l.discarded...)
}

// worker delivers f's events one at a time, with Lambda's retries.
func (l *LambdaService) worker(f *lambdaFn) {
	for {
		select {
		case <-l.stop:
			return
		case ev := <-f.queue:
			l.deliver(f, ev)
			l.mu.Lock()
			l.pending--
			l.idle.Broadcast()
			l.mu.Unlock()
		}
	}
}

func (l *LambdaService) deliver(f *lambdaFn, ev AsyncEvent) {
	retries, systemWait := 0, lambdaSystemRetryFirst
	for attempt := 1; ; attempt++ {
		out, err := l.run(f, ev.Payload)
		l.mu.Lock()
		l.deliveries = append(l.deliveries, Delivery{AsyncEvent: ev, Attempt: attempt, Response: out, Err: err})
		l.mu.Unlock()
		if err == nil {
			return
		}
		var wait time.Duration
		var fe *FunctionError
		switch {
		case errors.As(err, &fe):
			if retries >= l.MaxRetries {
				l.discard(ev)
				return
			}
			wait = time.Minute
			if retries < len(l.RetryDelays) {
				wait = l.RetryDelays[retries]
			}
			retries++
		default: // Lambda could not run the function: back to the queue
			if time.Since(ev.Queued)+systemWait > l.MaxEventAge {
				l.discard(ev)
				return
			}
			wait, systemWait = systemWait, min(2*systemWait, lambdaSystemRetryMax)
		}
		select {
		case <-l.stop:
			return
		case <-time.After(wait):
		}
	}
}

func (l *LambdaService) discard(ev AsyncEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.discarded = append(l.discarded, ev)
}

// run invokes the function once, alone.
func (l *LambdaService) run(f *lambdaFn, payload []byte) ([]byte, error) {
	f.run.Lock()
	defer f.run.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return f.fn.Invoke(ctx, payload)
}

// functionName matches the FunctionName path parameter's formats (name,
// partial ARN, ARN, each with an optional qualifier), as the API's pattern.
var functionName = regexp.MustCompile(`^(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?(?:([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?(?:(\d{12}):)?(?:function:)?([a-zA-Z0-9_.-]+)(?::(\$LATEST|[a-zA-Z0-9_-]+))?$`)

// lookup finds the function a FunctionName (and Qualifier) names.
func (l *LambdaService) lookup(raw, qualifier string) (*lambdaFn, string) {
	m := functionName.FindStringSubmatch(raw)
	if m == nil {
		return nil, ""
	}
	region, account, name, q := m[1], m[2], m[3], m[4]
	if q == "" {
		q = qualifier
	}
	arn := l.ARN(name)
	if q != "" {
		arn += ":" + q
	}
	if (region != "" && region != l.Region) || (account != "" && account != l.Account) || (q != "" && q != "$LATEST") {
		return nil, arn
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fns[name], arn
}

// lambdaError answers an error in Lambda's restJson1 shape.
func lambdaError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.Header().Set("X-Amzn-RequestId", "00000000-0000-4000-8000-00000000e770")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": msg})
}

func (l *LambdaService) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/2015-03-31/functions/")
	rest, ok2 := strings.CutSuffix(rest, "/invocations")
	if !ok || !ok2 || r.Method != http.MethodPost || rest == "" || strings.Contains(rest, "/") {
		lambdaError(w, http.StatusNotFound, "UnknownOperationException", "the emulated Lambda serves only Invoke, not "+r.Method+" "+r.URL.Path)
		return
	}
	name, err := url.PathUnescape(rest)
	if err != nil {
		lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "FunctionName: "+err.Error())
		return
	}
	kind := r.Header.Get("X-Amz-Invocation-Type")
	if kind == "" {
		kind = "RequestResponse"
	}
	limit := LambdaMaxSyncPayload
	switch kind {
	case "Event":
		limit = LambdaMaxAsyncPayload
	case "RequestResponse", "DryRun":
	default:
		lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException",
			"1 validation error detected: Value '"+kind+"' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]")
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", err.Error())
		return
	}
	l.mu.Lock()
	var fault string
	if len(l.faults) > 0 {
		fault, l.faults = l.faults[0], l.faults[1:]
	}
	l.mu.Unlock()
	switch fault {
	case "":
	case "TooManyRequestsException":
		w.Header().Set("Retry-After", "1")
		lambdaError(w, http.StatusTooManyRequests, fault, "Rate Exceeded.")
		return
	default:
		lambdaError(w, http.StatusInternalServerError, fault, "an injected service failure")
		return
	}
	f, arn := l.lookup(name, r.URL.Query().Get("Qualifier"))
	if f == nil {
		if arn == "" {
			lambdaError(w, http.StatusBadRequest, "ValidationException", "1 validation error detected: Value '"+name+"' at 'functionName' failed to satisfy constraint")
			return
		}
		lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+arn)
		return
	}
	if len(payload) > limit {
		lambdaError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException",
			fmt.Sprintf("%s invocation payload of more than %d bytes exceeds the %d-byte quota", kind, limit, limit))
		return
	}
	if len(payload) > 0 && !json.Valid(payload) {
		lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json")
		return
	}
	switch kind {
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
	case "Event":
		id := l.enqueue(f, payload)
		w.Header().Set("X-Amzn-RequestId", id)
		w.WriteHeader(http.StatusAccepted)
	default:
		out, err := l.runSync(r.Context(), f, payload)
		var fe *FunctionError
		switch {
		case errors.As(err, &fe):
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
		case err != nil:
			lambdaError(w, http.StatusBadGateway, "ServiceException", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(http.StatusOK)
		_, _ = io.Copy(w, bytes.NewReader(out))
	}
}

// runSync is a RequestResponse invocation: it waits its turn with the queue.
func (l *LambdaService) runSync(ctx context.Context, f *lambdaFn, payload []byte) ([]byte, error) {
	f.run.Lock()
	defer f.run.Unlock()
	return f.fn.Invoke(ctx, payload)
}
