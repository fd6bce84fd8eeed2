package awsedge

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-xray-sdk-go/v2/xray"
)

func TestRoleARNAndName(t *testing.T) {
	cases := []struct{ in, arn, name string }{
		{"arn:aws:sts::111122223333:assumed-role/guard-role/topic-guard", "arn:aws:iam::111122223333:role/guard-role", "guard-role"},
		{"arn:aws-us-gov:sts::111122223333:assumed-role/r/s/with/slashes", "arn:aws-us-gov:iam::111122223333:role/r", "r"},
		{"arn:aws:iam::111122223333:role/service-role/guard", "arn:aws:iam::111122223333:role/service-role/guard", "guard"},
		{"arn:aws:iam::000000000000:root", "arn:aws:iam::000000000000:root", ""},
		{"arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/alice", ""},
		{"", "", ""},
	}
	for _, c := range cases {
		if got := RoleARN(c.in); got != c.arn {
			t.Errorf("RoleARN(%q) = %q, want %q", c.in, got, c.arn)
		}
		if got := RoleName(c.in); got != c.name {
			t.Errorf("RoleName(%q) = %q, want %q", c.in, got, c.name)
		}
	}
}

func TestLoadMakesNoAWSCall(t *testing.T) {
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response {
		t.Fatalf("AWS call during load: %s", c.Op)
		return nil
	})
	if a, err := e.Account(context.Background(), ""); err != nil || a == nil {
		t.Fatal(err)
	}
	if len(r.Calls()) != 0 || len(e.Calls()) != 0 {
		t.Fatalf("calls %v", r.Ops())
	}
}

func TestIdentityOnceAndNotCachedOnError(t *testing.T) {
	fail := true
	e, r := newTestEdge(t, Options{MaxAttempts: 1}, func(c call) *http.Response {
		if fail {
			return queryErr(403, "AccessDenied", "no")
		}
		return callerIdentity("arn:aws:sts::111122223333:assumed-role/guard-role/topic-guard")
	})
	ctx := context.Background()
	if _, _, err := e.Identity(ctx); Classify(err) != AccessDenied {
		t.Fatalf("err %v", err)
	}
	fail = false
	for range 3 {
		acct, role, err := e.Identity(ctx)
		if err != nil || acct != "111122223333" || role != "arn:aws:iam::111122223333:role/guard-role" {
			t.Fatalf("%q %q %v", acct, role, err)
		}
	}
	if n := len(r.Calls()); n != 2 {
		t.Fatalf("%d STS calls, want 2 (one failed, one cached)", n)
	}
	a, _ := e.Account(ctx, "")
	if a.ID() != "111122223333" {
		t.Fatalf("own account id %q", a.ID())
	}
}

func TestAccountCrossAccount(t *testing.T) {
	const other = "444455556666"
	handle := func(c call) *http.Response {
		switch c.Op {
		case "GetCallerIdentity":
			return callerIdentity("arn:aws:sts::111122223333:assumed-role/guard-role/topic-guard")
		case "AssumeRole":
			return queryOK("AssumeRole", stsNS, `<Credentials><AccessKeyId>ASIAASSUMED</AccessKeyId><SecretAccessKey>s</SecretAccessKey>`+
				`<SessionToken>tok</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>`+
				`<AssumedRoleUser><Arn>arn:aws:sts::`+other+`:assumed-role/GuardMember/snskeyguard</Arn><AssumedRoleId>AROA:snskeyguard</AssumedRoleId></AssumedRoleUser>`)
		case "DescribeKey":
			return jsonOK(keyMetadata())
		}
		t.Fatalf("unexpected %s", c.Op)
		return nil
	}
	ctx := context.Background()

	noRole, _ := newTestEdge(t, Options{}, handle)
	if _, err := noRole.Account(ctx, other); !errors.Is(err, ErrNoCrossAccountRole) {
		t.Fatalf("err %v", err)
	}
	if _, err := noRole.Account(ctx, "12345"); err == nil {
		t.Fatal("malformed account id accepted")
	}

	e, r := newTestEdge(t, Options{CrossAccountRoleName: "GuardMember"}, handle)
	self, _ := e.Account(ctx, "")
	if own, err := e.Account(ctx, "111122223333"); err != nil || own != self {
		t.Fatalf("own account id did not give the own clients: %v", err)
	}
	a, err := e.Account(ctx, other)
	if err != nil || a == self || a.ID() != other {
		t.Fatalf("%v %v", a, err)
	}
	if again, _ := e.Account(ctx, other); again != a {
		t.Fatal("cross-account clients not cached")
	}
	if _, err := a.DescribeKey(ctx, testKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DescribeKey(ctx, testKeyID); err != nil {
		t.Fatal(err)
	}
	if ops := r.Ops(); !reflect.DeepEqual(ops, []string{"GetCallerIdentity", "AssumeRole", "DescribeKey", "DescribeKey"}) {
		t.Fatalf("ops %v", ops)
	}
	calls := r.Calls()
	ar := calls[1].Form
	if ar.Get("RoleArn") != "arn:aws:iam::"+other+":role/GuardMember" || ar.Get("RoleSessionName") != "snskeyguard" {
		t.Fatalf("AssumeRole %v", ar)
	}
	if auth := calls[2].Header.Get("Authorization"); !strings.Contains(auth, "Credential=ASIAASSUMED/") {
		t.Fatalf("DescribeKey not signed with the assumed credentials: %q", auth)
	}
	if tok := calls[2].Header.Get("X-Amz-Security-Token"); tok != "tok" {
		t.Fatalf("session token %q", tok)
	}
	want := map[string]int{"STS.GetCallerIdentity": 1, "STS.AssumeRole": 1, "KMS.DescribeKey": 2}
	if c := e.Calls(); !reflect.DeepEqual(c, want) {
		t.Fatalf("calls %v", c)
	}
}

// A server fault is retried (counted once as a call, three times as an
// attempt); a NotFound is never retried, whatever status carries it.
func TestRetriesByCodeNotStatus(t *testing.T) {
	faults := 2
	e, r := newTestEdge(t, Options{MaxAttempts: 3}, func(c call) *http.Response {
		if c.Form.Get("TopicArn") == testTopicARN+"-gone" {
			return queryErr(500, "NotFound", "emulator says 500")
		}
		if faults > 0 {
			faults--
			return queryErr(500, "InternalError", "try again")
		}
		return queryOK("GetTopicAttributes", snsNS, `<Attributes></Attributes>`)
	})
	a, _ := e.Account(context.Background(), "")
	if _, err := a.GetTopic(context.Background(), testTopicARN); err != nil {
		t.Fatalf("not retried to success: %v", err)
	}
	if _, err := a.GetTopic(context.Background(), testTopicARN+"-gone"); Classify(err) != NotFound {
		t.Fatalf("err %v", err)
	}
	if c, at := e.Calls(), e.Attempts(); c["SNS.GetTopicAttributes"] != 2 || at["SNS.GetTopicAttributes"] != 4 || len(r.Calls()) != 4 {
		t.Fatalf("calls %v attempts %v http %d", c, at, len(r.Calls()))
	}
}

func TestRetriesGiveUpAsRetryable(t *testing.T) {
	e, r := newTestEdge(t, Options{MaxAttempts: 2}, func(c call) *http.Response {
		return jsonErr(503, "KMSInternalException", "down")
	})
	a, _ := e.Account(context.Background(), "")
	_, err := a.KeyPolicy(context.Background(), testKeyID)
	if Classify(err) != Retryable || len(r.Calls()) != 2 {
		t.Fatalf("err %v class %v attempts %d", err, Classify(err), len(r.Calls()))
	}
}

// Locally there is no X-Ray daemon and no segment: traced calls must work
// and log nothing at error level. Inside a segment, the call is traced.
func TestXRayQuietOutsideSegment(t *testing.T) {
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	t.Setenv("AWS_XRAY_CONTEXT_MISSING", "")

	e, r := newTestEdge(t, Options{}, func(c call) *http.Response { return jsonOK(keyMetadata()) })
	a, _ := e.Account(context.Background(), "")
	if _, err := a.DescribeKey(context.Background(), testKeyID); err != nil {
		t.Fatalf("traced call outside a segment failed: %v", err)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) || strings.Contains(logs.String(), "segment cannot be found") {
		t.Fatalf("noisy logs: %s", logs.String())
	}
	if h := r.Calls()[0].Header.Get("X-Amzn-Trace-Id"); h != "" {
		t.Fatalf("trace header outside a segment: %q", h)
	}

	ctx, seg := xray.BeginSegment(context.Background(), "test")
	if _, err := a.DescribeKey(ctx, testKeyID); err != nil {
		t.Fatal(err)
	}
	h := r.Calls()[1].Header.Get("X-Amzn-Trace-Id")
	if !strings.Contains(h, "Root="+seg.TraceID) {
		t.Fatalf("call inside a segment not traced: header %q, trace %s", h, seg.TraceID)
	}
}

func TestXRayDisabledInstallsNothing(t *testing.T) {
	t.Setenv("AWS_XRAY_SDK_DISABLED", "true")
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response { return jsonOK(keyMetadata()) })
	a, _ := e.Account(context.Background(), "")
	ctx, _ := xray.BeginSegment(context.Background(), "test")
	if _, err := a.DescribeKey(ctx, testKeyID); err != nil {
		t.Fatal(err)
	}
	if h := r.Calls()[0].Header.Get("X-Amzn-Trace-Id"); h != "" {
		t.Fatalf("traced although disabled: %q", h)
	}
	if e.Calls()["KMS.DescribeKey"] != 1 {
		t.Fatalf("calls %v", e.Calls())
	}
}

// BenchmarkLoad measures what Load adds to a cold start (SDK config, seven
// clients, X-Ray setup; no AWS call).
func BenchmarkLoad(b *testing.B) {
	b.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	b.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	b.Setenv("AWS_CA_BUNDLE", "")
	b.Setenv("AWS_CONFIG_FILE", b.TempDir()+"/none")
	b.Setenv("AWS_SHARED_CREDENTIALS_FILE", b.TempDir()+"/none")
	for b.Loop() {
		if _, err := Load(context.Background(), Options{Region: "us-east-1"}); err != nil {
			b.Fatal(err)
		}
	}
}

// An account where the role cannot be assumed (absent, or not trusting this
// function) is a RoleUnavailableError at once, before any call is made with
// it; a throttled AssumeRole is an ordinary (retryable) error; neither is cached.
func TestAccountRoleUnavailable(t *testing.T) {
	const other = "444455556666"
	answer := "AccessDenied"
	handle := func(c call) *http.Response {
		switch c.Op {
		case "GetCallerIdentity":
			return callerIdentity("arn:aws:sts::111122223333:assumed-role/guard-role/topic-guard")
		case "AssumeRole":
			return queryErr(403, answer, "User: arn:aws:sts::111122223333:assumed-role/guard-role/topic-guard is not authorized to perform: sts:AssumeRole")
		}
		t.Fatalf("unexpected %s", c.Op)
		return nil
	}
	ctx := context.Background()
	e, r := newTestEdge(t, Options{CrossAccountRoleName: "GuardMember", MaxAttempts: 1}, handle)
	_, err := e.AccountIn(ctx, other, "eu-west-1")
	var ru *RoleUnavailableError
	if !errors.As(err, &ru) || ru.Account != other || ru.RoleARN != "arn:aws:iam::"+other+":role/GuardMember" {
		t.Fatalf("err %v, want a RoleUnavailableError for %s", err, other)
	}
	if !strings.Contains(err.Error(), "cannot be assumed in account "+other) {
		t.Errorf("message %q does not say what is missing", err)
	}
	if Classify(err) != AccessDenied {
		t.Errorf("class %v", Classify(err))
	}
	answer = "Throttling"
	_, err = e.Account(ctx, other)
	if err == nil || errors.As(err, &ru) || Classify(err) != Retryable {
		t.Fatalf("throttled AssumeRole: err %v (class %v), want a retryable error that is not RoleUnavailable", err, Classify(err))
	}
	if ops := r.Ops(); !reflect.DeepEqual(ops, []string{"GetCallerIdentity", "AssumeRole", "AssumeRole"}) {
		t.Fatalf("ops %v: failures must not be cached and no other call made", ops)
	}
}
