package awsedge

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// InvokeAsync sends Lambda's Invoke with InvocationType Event, SigV4-signed
// for the lambda service, retries a throttle, and counts one call.
func TestInvokeAsync(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.EscapedPath() != "/2015-03-31/functions/snskeyguard-config-rule/invocations" ||
			r.Header.Get("X-Amz-Invocation-Type") != "Event" || string(body) != `{"a":1}` ||
			!strings.Contains(r.Header.Get("Authorization"), "/us-east-1/lambda/aws4_request") {
			t.Errorf("request %s %s %v %s", r.Method, r.URL.EscapedPath(), r.Header, body)
		}
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	hermetic(t)
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", srv.URL)
	e, err := Load(context.Background(), Options{Region: "us-east-1", MaxAttempts: 1, AttemptTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.InvokeAsync(context.Background(), "snskeyguard-config-rule", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 || e.Calls()["Lambda.Invoke"] != 1 || e.Attempts()["Lambda.Invoke"] != 2 {
		t.Errorf("requests %d, calls %v, attempts %v", n.Load(), e.Calls(), e.Attempts())
	}
	// A refusal is an error, not retried.
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) })
	if err := e.InvokeAsync(context.Background(), "snskeyguard-config-rule", nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("403: %v", err)
	}
	if got := lambdaEndpoint("cn-north-1", nil); got != srv.URL {
		t.Errorf("AWS_ENDPOINT_URL_LAMBDA ignored: %s", got)
	}
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", "")
	if got := lambdaEndpoint("cn-north-1", nil); got != "https://lambda.cn-north-1.amazonaws.com.cn" {
		t.Errorf("China endpoint %s", got)
	}
}
