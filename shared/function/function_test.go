package function

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/snskeyguard/snskeyguard/shared/awsedge"
	"github.com/snskeyguard/snskeyguard/shared/guard"
)

func TestSetMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if got := setMemoryLimit(env(map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"})); got != 128<<20*8/10 {
		t.Fatalf("limit %d", got)
	}
	if got := setMemoryLimit(env(map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "GOMEMLIMIT": "50MiB"})); got != -1 {
		t.Fatalf("GOMEMLIMIT must win, got %d", got)
	}
	if got := setMemoryLimit(env(nil)); got != -1 {
		t.Fatalf("no memory size: got %d", got)
	}
}

func TestSetGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if got := setGCPercent(func(string) string { return "" }); got != 50 || debug.SetGCPercent(50) != 50 {
		t.Fatalf("got %d", got)
	}
	if got := setGCPercent(func(k string) string { return map[string]string{"GOGC": "200"}[k] }); got != -1 {
		t.Fatalf("GOGC must win, got %d", got)
	}
}

func TestOtherAccountWithoutRoleUsesOwnCredentials(t *testing.T) {
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>`+
			`<Arn>arn:aws:sts::000000000000:assumed-role/guard/fn</Arn><UserId>AROA:fn</UserId><Account>000000000000</Account>`+
			`</GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
	}))
	defer sts.Close()
	t.Setenv("AWS_ENDPOINT_URL", sts.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	edge, err := awsedge.Load(context.Background(), awsedge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := Guard(guard.Settings{Mode: guard.ModeAlert}, edge, slog.New(slog.DiscardHandler))
	a, err := g.Account(context.Background(), "111122223333", "us-east-1")
	if err != nil || a == nil {
		t.Fatalf("account: %v %v", a, err)
	}
	own, _ := g.Account(context.Background(), "", "us-east-1")
	if a.(account).Account != own.(account).Account {
		t.Fatal("want the function's own clients")
	}
}

// TestClassifyWiring checks that the guard sees the edge's classification of
// the SNS documentation's KMS errors under the same names: a throttled call is
// retried (the event is kept), the others become findings.
func TestClassifyWiring(t *testing.T) {
	g := Guard(guard.Settings{Mode: guard.ModeAlert}, nil, slog.New(slog.DiscardHandler))
	for code, want := range map[string]guard.ErrClass{
		"KMSThrottlingException":   guard.ErrRetryable,
		"KMSAccessDeniedException": guard.ErrAccessDenied,
		"KMSDisabledException":     guard.ErrDisabled,
		"KMSInvalidStateException": guard.ErrInvalidState,
		"KMSNotFoundException":     guard.ErrNotFound,
		"KMSOptInRequired":         guard.ErrOptIn,
		"ValidationException":      guard.ErrInvalid,
		"SomethingNew":             guard.ErrOther,
	} {
		if got := g.Classify(&smithy.GenericAPIError{Code: code}); got != want {
			t.Errorf("%s: the guard sees %v, want %v", code, got, want)
		}
	}
}
