package iamproxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/snskeyguard/snskeyguard/internal/cfn"
)

const (
	fixtureAccount = "000000000000"
	fixtureTopic   = "arn:aws:sns:us-east-1:000000000000:alerts"
	fixtureSession = "arn:aws:sts::000000000000:assumed-role/fixture-GuardRole/fixture-guard"
)

// backend stands in for the emulators: it answers every call with a minimal
// success in the call's protocol and records what reached it.
type backend struct {
	*httptest.Server
	mu  sync.Mutex
	ops []string
}

func newBackend(t *testing.T) *backend {
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c, _ := decode(r, body)
		b.mu.Lock()
		b.ops = append(b.ops, c.service+":"+c.op)
		b.mu.Unlock()
		switch c.proto {
		case protoJSON:
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			if c.op == "DescribeKey" {
				id := str(c.body, "KeyId")
				if id == "alias/orders" {
					id = "k-orders"
				}
				json.NewEncoder(w).Encode(map[string]any{"KeyMetadata": map[string]any{"KeyId": id,
					"Arn": "arn:aws:kms:us-east-1:" + fixtureAccount + ":key/" + id}})
				return
			}
			w.Write([]byte("{}"))
		case protoQuery:
			w.Header().Set("Content-Type", "text/xml")
			if c.op == "AssumeRole" {
				w.Write([]byte(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>` +
					`<AccessKeyId>ASIAMEMBER0000000001</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken>` +
					`<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>` + c.form.Get("RoleArn") +
					`</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult>` +
					`<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></AssumeRoleResponse>`))
				return
			}
			w.Write([]byte(`<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-1</MessageId>` +
				`</PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>`))
		case protoCBOR:
			w.Header().Set("Content-Type", "application/cbor")
			w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
			w.Write([]byte{0xa0}) // an empty map
		}
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) reached() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.ops
	b.ops = nil
	return out
}

// fixture starts a proxy over testdata/template.yaml and registers the guard
// function with env; it returns an SDK config signed with its key.
func fixture(t *testing.T, env map[string]string) (*Proxy, *backend, aws.Config) {
	t.Helper()
	return fixtureWith(t, env, nil, Options{})
}

// fixtureWith is fixture over testdata/template.yaml with edit applied to
// its text (nil: as it is; an edit that changes nothing fails the test) and
// opts' quota settings.
func fixtureWith(t *testing.T, env map[string]string, edit func(string) string, opts Options) (*Proxy, *backend, aws.Config) {
	t.Helper()
	raw, err := os.ReadFile("testdata/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tpl := string(raw)
	if edit != nil {
		if tpl = edit(tpl); tpl == string(raw) {
			t.Fatal("the edit changed nothing")
		}
	}
	b := newBackend(t)
	p, err := New(Options{Default: b.URL, Template: []byte(tpl), AdminKeys: []string{"test"}, Quotas: opts.Quotas, Clock: opts.Clock,
		Deployment: cfn.Deployment{AccountID: fixtureAccount, Region: "us-east-1", StackName: "fixture"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	key, err := p.Register("guard", env, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(p.URL), Retryer: func() aws.Retryer { return aws.NopRetryer{} },
		Credentials: credentials.NewStaticCredentialsProvider(key, "secret", "")}
	return p, b, cfg
}

var alertEnv = map[string]string{"MODE": "alert", "ALERT_TOPIC_ARN": fixtureTopic}

// apiError returns the error as the SDK decoded it.
func apiError(t *testing.T, err error) smithy.APIError {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an AWS API error", err)
	}
	return ae
}

func TestAllowedCallPasses(t *testing.T) {
	p, b, cfg := fixture(t, alertEnv)
	ctx := context.Background()
	if _, err := kms.NewFromConfig(cfg).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("k-1")}); err != nil {
		t.Fatalf("DescribeKey of an allowed key: %v", err)
	}
	// An alias is authorized on the key it names (resolved by the harness key).
	if _, err := kms.NewFromConfig(cfg).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/orders")}); err != nil {
		t.Fatalf("DescribeKey by alias: %v", err)
	}
	if _, err := sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: aws.String(fixtureTopic), Message: aws.String("x")}); err != nil {
		t.Fatalf("Publish to the alert topic (AWS::IAM::Policy naming the role): %v", err)
	}
	got := strings.Join(b.reached(), " ")
	if got != "kms:DescribeKey kms:DescribeKey kms:DescribeKey sns:Publish" { // the second is the alias resolution
		t.Errorf("backend reached by %q", got)
	}
	if p.Checked() != 3 || len(p.Denials()) != 0 {
		t.Errorf("checked %d, denials %v; want 3 and none", p.Checked(), p.Denials())
	}
}

func TestDeniedCallGetsAWSShape(t *testing.T) {
	p, b, cfg := fixture(t, alertEnv)
	ctx := context.Background()
	// awsJson (KMS): AccessDeniedException with IAM's message.
	_, err := kms.NewFromConfig(cfg).PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String("k-1"),
		PolicyName: aws.String("default"), Policy: aws.String("{}")})
	ae := apiError(t, err)
	wantMsg := "User: " + fixtureSession + " is not authorized to perform: kms:PutKeyPolicy on resource: " +
		"arn:aws:kms:us-east-1:000000000000:key/k-1 because no identity-based policy allows the kms:PutKeyPolicy action"
	if ae.ErrorCode() != "AccessDeniedException" || ae.ErrorMessage() != wantMsg {
		t.Errorf("PutKeyPolicy in alert mode: %s %q\nwant AccessDeniedException %q", ae.ErrorCode(), ae.ErrorMessage(), wantMsg)
	}
	// awsQuery (SNS): AuthorizationError.
	other := "arn:aws:sns:us-east-1:000000000000:other"
	_, err = sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: aws.String(other), Message: aws.String("x")})
	ae = apiError(t, err)
	if ae.ErrorCode() != "AuthorizationError" || !strings.Contains(ae.ErrorMessage(), "sns:Publish on resource: "+other) {
		t.Errorf("Publish to another topic: %s %q", ae.ErrorCode(), ae.ErrorMessage())
	}
	// RPC v2 CBOR, query compatible (CloudWatch): the SDK reports AccessDenied.
	eu := cfg.Copy()
	eu.Region = "eu-west-1"
	_, err = cloudwatch.NewFromConfig(eu).DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{})
	ae = apiError(t, err)
	if ae.ErrorCode() != "AccessDenied" || !strings.Contains(ae.ErrorMessage(), "cloudwatch:DescribeAlarms on resource: *") {
		t.Errorf("DescribeAlarms outside the home region: %s %q", ae.ErrorCode(), ae.ErrorMessage())
	}
	if r := b.reached(); len(r) != 0 {
		t.Errorf("denied calls reached the backend: %v", r)
	}
	d := p.Denials()
	if len(d) != 3 || d[0].Action != "kms:PutKeyPolicy" || d[0].Role != "arn:aws:iam::000000000000:role/fixture-GuardRole" || d[0].Message != wantMsg {
		t.Errorf("denials %+v", d)
	}

	// The wire shapes themselves.
	for _, c := range []struct {
		name, target, ctype, body string
		status                    int
		want                      string
	}{
		{"json", "TrentService.PutKeyPolicy", "application/x-amz-json-1.1", `{"KeyId":"k-1","PolicyName":"default","Policy":"{}"}`,
			400, `{"__type":"AccessDeniedException","message":"` + wantMsg + `"}`},
		{"query", "", "application/x-www-form-urlencoded", "Action=Publish&TopicArn=" + other + "&Message=x",
			403, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>User: ` +
				fixtureSession + ` is not authorized to perform: sns:Publish on resource: ` + other +
				` because no identity-based policy allows the sns:Publish action</Message></Error><RequestId>00000000-0000-4000-8000-1a3d0e111ed0</RequestId></ErrorResponse>`},
	} {
		t.Run(c.name, func(t *testing.T) {
			key := ""
			for k := range p.ids {
				key = k
			}
			svc := map[string]string{"json": "kms", "query": "sns"}[c.name]
			req, _ := http.NewRequest(http.MethodPost, p.URL+"/", strings.NewReader(c.body))
			req.Header.Set("Content-Type", c.ctype)
			if c.target != "" {
				req.Header.Set("X-Amz-Target", c.target)
			}
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/20250101/us-east-1/"+svc+"/aws4_request, SignedHeaders=host, Signature=0")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status || string(got) != c.want {
				t.Errorf("%d %s\nwant %d %s", resp.StatusCode, got, c.status, c.want)
			}
		})
	}
}

func TestDenyStatementWins(t *testing.T) {
	p, b, cfg := fixture(t, alertEnv)
	// ReadKeys allows every key of the account; NeverTheVault denies this one.
	_, err := kms.NewFromConfig(cfg).DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String("vault")})
	ae := apiError(t, err)
	want := "User: " + fixtureSession + " is not authorized to perform: kms:DescribeKey on resource: " +
		"arn:aws:kms:us-east-1:000000000000:key/vault with an explicit deny in an identity-based policy"
	if ae.ErrorCode() != "AccessDeniedException" || ae.ErrorMessage() != want {
		t.Errorf("%s %q\nwant %q", ae.ErrorCode(), ae.ErrorMessage(), want)
	}
	if r := b.reached(); len(r) != 0 {
		t.Errorf("backend reached: %v", r)
	}
	if d := p.Denials(); len(d) != 1 || d[0].Policies[0] != "GuardRole/guard" {
		t.Errorf("denials %+v, want one naming GuardRole/guard", d)
	}
}

func TestConditionsAreHonoured(t *testing.T) {
	_, b, cfg := fixture(t, map[string]string{"MODE": "remediate", "ALERT_TOPIC_ARN": fixtureTopic})
	ctx := context.Background()
	c := kms.NewFromConfig(cfg)
	put := &kms.PutKeyPolicyInput{KeyId: aws.String("k-1"), PolicyName: aws.String("default"), Policy: aws.String("{}")}
	if _, err := c.PutKeyPolicy(ctx, put); err != nil {
		t.Fatalf("PutKeyPolicy in remediate mode (the !If branch): %v", err)
	}
	put.BypassPolicyLockoutSafetyCheck = true
	_, err := c.PutKeyPolicy(ctx, put)
	if ae := apiError(t, err); !strings.Contains(ae.ErrorMessage(), "with an explicit deny") {
		t.Errorf("PutKeyPolicy bypassing the lockout check: %q, want the Bool deny to match", ae.ErrorMessage())
	}
	if _, err := eventbridge.NewFromConfig(cfg).ListEventBuses(ctx, &eventbridge.ListEventBusesInput{}); err != nil {
		t.Errorf("ListEventBuses in the home region: %v", err)
	}
	eu := cfg.Copy()
	eu.Region = "eu-west-1"
	_, err = eventbridge.NewFromConfig(eu).ListEventBuses(ctx, &eventbridge.ListEventBusesInput{})
	if ae := apiError(t, err); ae.ErrorCode() != "AccessDeniedException" {
		t.Errorf("ListEventBuses with aws:RequestedRegion eu-west-1: %s", ae.ErrorCode())
	}
	if got := strings.Join(b.reached(), " "); got != "kms:PutKeyPolicy events:ListEventBuses" {
		t.Errorf("backend reached by %q", got)
	}
}

func TestUnknownCallerAndUnmodelledCallAreDenied(t *testing.T) {
	p, _, cfg := fixture(t, alertEnv)
	stranger := cfg.Copy()
	stranger.Credentials = credentials.NewStaticCredentialsProvider("AKIASTRANGER", "s", "")
	_, err := kms.NewFromConfig(stranger).DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String("k-1")})
	if err == nil {
		t.Fatal("a key the proxy never handed out was accepted")
	}
	if ae := apiError(t, err); ae.ErrorCode() != "UnrecognizedClientException" {
		t.Errorf("unknown key: %s, want UnrecognizedClientException", ae.ErrorCode())
	}
	if _, err := kms.NewFromConfig(cfg).ListKeys(context.Background(), &kms.ListKeysInput{}); err == nil {
		t.Error("an operation the proxy does not model was accepted")
	}
	if d := p.Denials(); len(d) != 2 || !strings.Contains(d[1].Message, "not modelled") {
		t.Errorf("denials %+v", d)
	}
}

func TestRegisterReadsParametersFromTheEnvironment(t *testing.T) {
	tpl, _ := os.ReadFile("testdata/template.yaml")
	p, err := New(Options{Default: "http://127.0.0.1:1", Template: tpl,
		Deployment: cfn.Deployment{AccountID: fixtureAccount, Region: "us-east-1", StackName: "fixture"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// The stack's own alert topic: AlertTopicArn stays empty.
	if _, err := p.Register("guard", map[string]string{"MODE": "alert", "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:000000000000:fixture-AlertTopic"}, nil); err != nil {
		t.Errorf("own alert topic: %v", err)
	}
	if _, err := p.Register("guard", map[string]string{"MODE": "sometimes"}, nil); err == nil {
		t.Error("MODE outside AllowedValues was accepted")
	}
	if _, err := p.Register("nobody", alertEnv, nil); err == nil {
		t.Error("a function the template does not define was registered")
	}
}

// TestMemberRoleFromTheStackSet: with template.yaml in organization mode, the
// function's AssumeRole of the member role is checked against its own role
// (aws:ResourceOrgID) and the member role's trust policy (aws:PrincipalOrgID),
// and the key AssumeRole returns acts as the member role of the StackSet's
// inner template, in the member account.
func TestMemberRoleFromTheStackSet(t *testing.T) {
	tpl, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b := newBackend(t)
	p, err := New(Options{Default: b.URL, Template: tpl,
		Deployment: cfn.Deployment{AccountID: fixtureAccount, Region: "us-east-1", StackName: "snskeyguard"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	org := map[string]string{"DeploymentMode": "organization", "OrganizationId": "o-a1b2c3d4e5", "OrganizationalUnitIds": "ou-ab12-cdef3456"}
	key, err := p.Register("topic-guard", map[string]string{"MODE": "remediate", "CROSS_ACCOUNT_ROLE_NAME": "snskeyguard-member"}, org)
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(p.URL), Retryer: func() aws.Retryer { return aws.NopRetryer{} },
		Credentials: credentials.NewStaticCredentialsProvider(key, "s", "")}
	ctx := context.Background()
	member := "arn:aws:iam::222233334444:role/snskeyguard-member"
	if _, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(member), RoleSessionName: aws.String("snskeyguard")}); err != nil {
		t.Fatalf("AssumeRole of the member role: %v %v", err, p.Denials())
	}
	_, err = sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222233334444:role/admin"),
		RoleSessionName: aws.String("snskeyguard")})
	if ae := apiError(t, err); ae.ErrorCode() != "AccessDenied" {
		t.Errorf("AssumeRole of another role: %s, want AccessDenied", ae.ErrorCode())
	}
	m := cfg.Copy()
	m.Credentials = credentials.NewStaticCredentialsProvider("ASIAMEMBER0000000001", "s", "t")
	memberKey := "arn:aws:kms:us-east-1:222233334444:key/k-9"
	if _, err := kms.NewFromConfig(m).PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(memberKey),
		PolicyName: aws.String("default"), Policy: aws.String("{}")}); err != nil {
		t.Errorf("PutKeyPolicy on the member's key as the member role (remediate): %v", err)
	}
	_, err = kms.NewFromConfig(m).PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String("arn:aws:kms:us-east-1:333344445555:key/k-9"),
		PolicyName: aws.String("default"), Policy: aws.String("{}")})
	ae := apiError(t, err)
	if want := "User: arn:aws:sts::222233334444:assumed-role/snskeyguard-member/snskeyguard is not authorized"; !strings.HasPrefix(ae.ErrorMessage(), want) {
		t.Errorf("PutKeyPolicy on a third account's key: %q, want it denied to the member session", ae.ErrorMessage())
	}
	d := p.Denials()
	if len(d) != 2 || d[0].Action != "sts:AssumeRole" || d[1].Role != member {
		t.Errorf("denials %+v", d)
	}
}

// TestCallerIdentityIsTheFunctionsRole: STS answers a Lambda function with
// its own assumed-role session (kumo would answer the account root), so the
// guard can recognise the events its own role caused.
func TestCallerIdentityIsTheFunctionsRole(t *testing.T) {
	tpl, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b := newBackend(t)
	p, err := New(Options{Default: b.URL, Template: tpl,
		Deployment: cfn.Deployment{AccountID: fixtureAccount, Region: "us-east-1", StackName: "snskeyguard"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	key, err := p.Register("key-guard", map[string]string{"MODE": "remediate"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(p.URL), Retryer: func() aws.Retryer { return aws.NopRetryer{} },
		Credentials: credentials.NewStaticCredentialsProvider(key, "s", "")}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	want := "arn:aws:sts::" + fixtureAccount + ":assumed-role/snskeyguard-key-guard-us-east-1/snskeyguard-key-guard"
	if aws.ToString(out.Arn) != want || aws.ToString(out.Account) != fixtureAccount || !strings.HasSuffix(aws.ToString(out.UserId), ":snskeyguard-key-guard") {
		t.Errorf("GetCallerIdentity = %s %s %s, want %s", aws.ToString(out.Arn), aws.ToString(out.Account), aws.ToString(out.UserId), want)
	}
}
