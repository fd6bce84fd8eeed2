package iamproxy

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/snskeyguard/snskeyguard/internal/cfn"
	"github.com/snskeyguard/snskeyguard/shared/awsedge"
)

// continueSweep is the config-rule role's statement that lets a sweep start
// another invocation of its own function, as template.yaml writes it.
const continueSweep = `              - Sid: ContinueSweep
                Effect: Allow
                Action: lambda:InvokeFunction
                Resource: !Sub "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-config-rule"
`

// lambdaRig is the proxy over template text in front of a Lambda stand-in
// that queues every Invoke it receives (202), and the product's edge signed
// with the config-rule function's key.
func lambdaRig(t *testing.T, tpl string) (*Proxy, *awsedge.Edge, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var reached []string
	lambda := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reached = append(reached, r.URL.Path)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(lambda.Close)
	p, err := New(Options{Default: lambda.URL, Targets: map[string]string{"lambda": lambda.URL}, Template: []byte(tpl),
		AdminKeys: []string{"test"}, Deployment: cfn.Deployment{AccountID: fixtureAccount, Region: "us-east-1", StackName: "snskeyguard"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	raw, err := os.ReadFile("../../events/env.json")
	if err != nil {
		t.Fatal(err)
	}
	var settings map[string]map[string]string
	if err := json.Unmarshal(raw, &settings); err != nil {
		t.Fatal(err)
	}
	key, err := p.Register("config-rule", settings["ConfigRuleFunction"], nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": "iam-proxy-" + key, "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": t.TempDir() + "/none", "AWS_SHARED_CREDENTIALS_FILE": t.TempDir() + "/none",
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_LAMBDA": ""} {
		t.Setenv(k, v)
	}
	e, err := awsedge.Load(context.Background(), awsedge.Options{Region: "us-east-1", EndpointURL: p.URL, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return p, e, func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := reached
		reached = nil
		return out
	}
}

func readTemplate(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConfigRuleMayInvokeOnlyItself: template.yaml's config-rule role may
// start an asynchronous invocation of its own function (a sweep continuing)
// and of no other; the call another function's ARN names is denied as Lambda
// denies it, the denial naming lambda:InvokeFunction and the function.
func TestConfigRuleMayInvokeOnlyItself(t *testing.T) {
	p, e, reached := lambdaRig(t, readTemplate(t))
	ctx := context.Background()
	if err := e.InvokeAsync(ctx, "snskeyguard-config-rule", []byte(`{"a":1}`)); err != nil {
		t.Fatalf("the function invoking itself: %v", err)
	}
	if got := reached(); len(got) != 1 || got[0] != "/2015-03-31/functions/snskeyguard-config-rule/invocations" {
		t.Errorf("reached Lambda %v, want the one Invoke", got)
	}
	err := e.InvokeAsync(ctx, "snskeyguard-topic-guard", []byte(`{"a":1}`))
	for _, want := range []string{"AccessDeniedException", "lambda:InvokeFunction", "arn:aws:lambda:us-east-1:000000000000:function:snskeyguard-topic-guard"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("invoking another function: err %v, want it to name %s", err, want)
		}
	}
	if got := reached(); len(got) != 0 {
		t.Errorf("a denied Invoke reached Lambda: %v", got)
	}
	d := p.TakeDenials()
	if len(d) != 1 || d[0].Action != "lambda:InvokeFunction" || !strings.Contains(d[0].Role, "role/snskeyguard-config-rule") {
		t.Errorf("denials %+v, want the one lambda:InvokeFunction of the config-rule role", d)
	}
}

// TestConfigRuleWithoutContinueSweepIsDenied: without the role's
// ContinueSweep statement the sweep's own Invoke fails with
// AccessDeniedException naming the call; the statement is what allows it.
func TestConfigRuleWithoutContinueSweepIsDenied(t *testing.T) {
	tpl := readTemplate(t)
	cut := strings.Replace(tpl, continueSweep, "", 1)
	if cut == tpl {
		t.Fatal("template.yaml has no ContinueSweep statement as this test knows it: update continueSweep")
	}
	p, e, reached := lambdaRig(t, cut)
	err := e.InvokeAsync(context.Background(), "snskeyguard-config-rule", []byte(`{"a":1}`))
	for _, want := range []string{"invoke snskeyguard-config-rule", "AccessDeniedException", "not authorized to perform: lambda:InvokeFunction",
		"arn:aws:lambda:us-east-1:000000000000:function:snskeyguard-config-rule"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v, want it to name %s", err, want)
		}
	}
	if got := reached(); len(got) != 0 {
		t.Errorf("a denied Invoke reached Lambda: %v", got)
	}
	if d := p.TakeDenials(); len(d) != 1 || d[0].Action != "lambda:InvokeFunction" {
		t.Errorf("denials %+v", d)
	}
}
