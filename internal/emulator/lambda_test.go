package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// newEchoLambda deploys internal/emulator/testdata/echofn as "echo" in a
// LambdaService with short retry delays.
func newEchoLambda(t *testing.T) *LambdaService {
	t.Helper()
	RequireBinary(t, RIEBinary)
	bin, err := BuildPackage("internal/emulator/testdata/echofn")
	if err != nil {
		t.Fatal(err)
	}
	l := NewLambdaService(KumoAccount, KumoRegion)
	t.Cleanup(l.Close)
	l.RetryDelays = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}
	l.Deploy("echo", StartFunctionForTest(t, bin, map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "echo"}))
	return l
}

type lambdaAnswer struct {
	status int
	header http.Header
	body   string
}

func invokeLambda(t *testing.T, l *LambdaService, name, kind string, payload []byte) lambdaAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, l.URL+"/2015-03-31/functions/"+url.PathEscape(name)+"/invocations", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	if kind != "" {
		req.Header.Set("X-Amz-Invocation-Type", kind)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return lambdaAnswer{resp.StatusCode, resp.Header, string(b)}
}

func wantLambdaError(t *testing.T, a lambdaAnswer, status int, code string) {
	t.Helper()
	if a.status != status || a.header.Get("X-Amzn-ErrorType") != code {
		t.Errorf("answer %d %s %s, want %d %s", a.status, a.header.Get("X-Amzn-ErrorType"), a.body, status, code)
	}
	var body struct{ Type, Message string }
	if err := json.Unmarshal([]byte(a.body), &body); err != nil || body.Message == "" {
		t.Errorf("error body %q: want {Type, message}", a.body)
	}
}

// TestLambdaServiceInvoke: the Invoke API's answers (Event 202 with an empty
// body and the event run once, RequestResponse 200 with the response or
// X-Amz-Function-Error, DryRun 204), the function named by name, ARN or
// partial ARN, and the documented errors.
func TestLambdaServiceInvoke(t *testing.T) {
	l := newEchoLambda(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	for i, name := range []string{"echo", l.ARN("echo"), KumoAccount + ":function:echo", "echo:$LATEST"} {
		a := invokeLambda(t, l, name, "Event", []byte(`{"echo":`+string(rune('0'+i))+`}`))
		if a.status != http.StatusAccepted || a.body != "" || a.header.Get("X-Amzn-RequestId") == "" {
			t.Errorf("Event invoke of %s: %d %q, want 202, empty body, a request id", name, a.status, a.body)
		}
	}
	if err := l.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	got := l.Deliveries()
	if len(got) != 4 {
		t.Fatalf("%d deliveries, want 4: %+v", len(got), got)
	}
	for i, d := range got {
		want := `{"echo":` + string(rune('0'+i)) + `,"env":{}}`
		if d.Err != nil || d.Attempt != 1 || string(d.Response) != want {
			t.Errorf("delivery %d: attempt %d err %v response %s, want %s", i, d.Attempt, d.Err, d.Response, want)
		}
	}

	a := invokeLambda(t, l, "echo", "", []byte(`{"echo":"sync"}`))
	if a.status != http.StatusOK || a.body != `{"echo":"sync","env":{}}` || a.header.Get("X-Amz-Function-Error") != "" {
		t.Errorf("RequestResponse: %d %q %v", a.status, a.body, a.header)
	}
	a = invokeLambda(t, l, "echo", "RequestResponse", []byte(`{"fail":"boom"}`))
	if a.status != http.StatusOK || a.header.Get("X-Amz-Function-Error") != "Unhandled" || !strings.Contains(a.body, "boom") {
		t.Errorf("RequestResponse with a function error: %d %q %v", a.status, a.body, a.header)
	}
	if a = invokeLambda(t, l, "echo", "DryRun", []byte(`{}`)); a.status != http.StatusNoContent {
		t.Errorf("DryRun: %d %q", a.status, a.body)
	}

	wantLambdaError(t, invokeLambda(t, l, "nope", "Event", []byte(`{}`)), http.StatusNotFound, "ResourceNotFoundException")
	wantLambdaError(t, invokeLambda(t, l, "arn:aws:lambda:eu-west-1:"+KumoAccount+":function:echo", "Event", []byte(`{}`)), http.StatusNotFound, "ResourceNotFoundException")
	wantLambdaError(t, invokeLambda(t, l, "echo:live", "Event", []byte(`{}`)), http.StatusNotFound, "ResourceNotFoundException")
	big := []byte(`{"echo":"` + strings.Repeat("x", LambdaMaxAsyncPayload) + `"}`)
	wantLambdaError(t, invokeLambda(t, l, "echo", "Event", big), http.StatusRequestEntityTooLarge, "RequestTooLargeException")
	if a := invokeLambda(t, l, "echo", "RequestResponse", big); a.status != http.StatusOK {
		t.Errorf("a 1 MB synchronous payload (quota 6 MB): %d %q", a.status, a.body)
	}
	wantLambdaError(t, invokeLambda(t, l, "echo", "Later", []byte(`{}`)), http.StatusBadRequest, "InvalidParameterValueException")

	l.FailInvokes("TooManyRequestsException", "ServiceException")
	wantLambdaError(t, invokeLambda(t, l, "echo", "Event", []byte(`{}`)), http.StatusTooManyRequests, "TooManyRequestsException")
	wantLambdaError(t, invokeLambda(t, l, "echo", "Event", []byte(`{}`)), http.StatusInternalServerError, "ServiceException")
	if a := invokeLambda(t, l, "echo", "DryRun", []byte(`{}`)); a.status != http.StatusNoContent {
		t.Errorf("after the injected faults: %d %q", a.status, a.body)
	}
	if err := l.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(l.Deliveries()); n != 4 {
		t.Errorf("%d deliveries, want still 4: rejected invokes must queue nothing", n)
	}
}

// TestLambdaServiceRetriesFunctionErrors: an Event invocation whose function
// fails is run twice more (Lambda's default), then discarded; one that
// succeeds is run once.
func TestLambdaServiceRetriesFunctionErrors(t *testing.T) {
	l := newEchoLambda(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := l.Enqueue("echo", []byte(`{"fail":"boom"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Enqueue("echo", []byte(`{"echo":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Enqueue("nope", []byte(`{}`)); err == nil {
		t.Error("Enqueue to an unknown function: want an error")
	}
	if err := l.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	var attempts []int
	for _, d := range l.Deliveries() {
		var fe *FunctionError
		if string(d.Payload) == `{"fail":"boom"}` {
			if !errors.As(d.Err, &fe) || fe.Message != "boom" {
				t.Errorf("attempt %d: err %v, want the function error", d.Attempt, d.Err)
			}
			attempts = append(attempts, d.Attempt)
		} else if d.Err != nil || d.Attempt != 1 {
			t.Errorf("the good event: attempt %d err %v", d.Attempt, d.Err)
		}
	}
	if len(attempts) != 3 || attempts[2] != 3 {
		t.Errorf("attempts of the failing event %v, want [1 2 3]", attempts)
	}
	if d := l.Discarded(); len(d) != 1 || string(d[0].Payload) != `{"fail":"boom"}` {
		t.Errorf("discarded %+v, want the failing event", d)
	}
}
