package functions_test

// Organization rollout, end to end: an event from a member account makes the
// function assume CROSS_ACCOUNT_ROLE_NAME there and act with those credentials.
//
// kumo serves one account (000000000000) and checks no credentials: it holds
// resources seeded with another account's ARNs, but it cannot tell who asks for
// them. So a recording proxy stands in front of every endpoint the function
// uses; it proves the assumption from the wire: an STS AssumeRole call for
// arn:aws:iam::<member>:role/<name>, then every SNS/KMS/Config call signed with
// the access key id that AssumeRole returned (and none with the function's own
// key). Behind the recorder, the IAM proxy of the stack (emulator.Stack.IAM)
// holds every call to the roles of template.yaml in organization mode: the
// function's role for its own calls and AssumeRole, and the member role of the
// StackSet's template for the calls signed with the assumed key.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
)

const (
	crossMember   = "222233334444"
	crossRoleName = "snskeyguard-member"
	crossKeyID    = "5c0ffee0-2222-4333-8444-555566667777"
	crossOwnKeyID = "5c0ffee0-0000-4000-8000-000000000001"
	// crossAlertTopic is the central alert topic (the function's own account).
	crossAlertTopic = "arn:aws:sns:us-east-1:" + emulator.KumoAccount + ":guard-alerts"
)

// crossOrganization are the template parameters of an organization
// deployment that no function variable shows.
var crossOrganization = map[string]string{"DeploymentMode": "organization", "OrganizationId": "o-a1b2c3d4e5",
	"OrganizationalUnitIds": "ou-ab12-cdef3456"}

// crossFunction starts a function behind the recorder and the IAM proxy, with
// its own access key id (returned), and fails the test on every call IAM
// would deny it when the test ends.
func crossFunction(t *testing.T, s *emulator.Stack, name string, env map[string]string) (*emulator.Function, string) {
	t.Helper()
	env, err := s.FunctionEnv(name, env, crossOrganization)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { iamFail(t, name, s.IAM.TakeDenials()) })
	return emulator.NewFunction(t, name, env), env["AWS_ACCESS_KEY_ID"]
}

// crossCall is one request as the proxy saw it.
type crossCall struct {
	Service, Op, AccessKey string
	Form                   url.Values // query-protocol parameters (STS, SNS)
}

// crossProxy forwards by the signing service: Config to the fake, the rest to
// kumo. It records every call and the credentials STS handed out.
type crossProxy struct {
	t            *testing.T
	kumo, config string
	securityhub  string
	// denyAssume lists accounts whose role STS refuses to hand out, as for an
	// account without the member role (AccessDenied, status 403).
	denyAssume     map[string]bool
	mu             sync.Mutex
	calls          []crossCall
	assumedKeys    []string
	URL            string
	credentialRE   *regexp.Regexp
	assumedKeyElem *regexp.Regexp
}

func newCrossProxy(t *testing.T, s *emulator.Stack) *crossProxy {
	p := &crossProxy{t: t, kumo: s.IAM.URL, config: s.IAM.URL, securityhub: s.IAM.URL, denyAssume: map[string]bool{},
		credentialRE:   regexp.MustCompile(`Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/aws4_request`),
		assumedKeyElem: regexp.MustCompile(`<AccessKeyId>([^<]+)</AccessKeyId>`)}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *crossProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c := crossCall{Op: r.Header.Get("X-Amz-Target")}
	if m := p.credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		c.AccessKey, c.Service = m[1], m[2]
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		c.Form, _ = url.ParseQuery(string(body))
		c.Op = c.Form.Get("Action")
	}
	target := p.kumo
	switch c.Service {
	case "config":
		target = p.config
	case "securityhub":
		target = p.securityhub
	}
	if c.Op == "AssumeRole" {
		if acct := strings.Split(c.Form.Get("RoleArn"), ":"); len(acct) > 4 && p.denyAssume[acct[4]] {
			p.mu.Lock()
			p.calls = append(p.calls, c)
			p.mu.Unlock()
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: `+
				`arn:aws:sts::000000000000:assumed-role/snskeyguard-config-rule-us-east-1/fn is not authorized to perform: sts:AssumeRole on resource: `+
				c.Form.Get("RoleArn")+`</Message></Error><RequestId>1</RequestId></ErrorResponse>`)
			return
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	p.mu.Lock()
	p.calls = append(p.calls, c)
	if c.Op == "AssumeRole" {
		if m := p.assumedKeyElem.FindSubmatch(out); m != nil {
			p.assumedKeys = append(p.assumedKeys, string(m[1]))
		}
	}
	p.mu.Unlock()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

// take returns and forgets what was recorded.
func (p *crossProxy) take() ([]crossCall, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	calls, keys := p.calls, p.assumedKeys
	p.calls, p.assumedKeys = nil, nil
	return calls, keys
}

// crossEvent is the CreateTopic sample moved into account (as a member's rule
// forwards it: only "account" and the ARNs in the detail change).
func crossEvent(t *testing.T, account, topic, keyARN string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "events", "topic-guard-CreateTopic-orders-compliant.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	d := ev["detail"].(map[string]any)
	ev["account"] = account
	d["recipientAccountId"] = account
	ui := d["userIdentity"].(map[string]any)
	ui["accountId"] = account
	ui["arn"] = "arn:aws:sts::" + account + ":assumed-role/PlatformAdmin/jane.doe@example.com"
	delete(ui, "sessionContext")
	d["requestParameters"] = map[string]any{"name": topic, "attributes": map[string]any{"KmsMasterKeyId": keyARN}}
	d["responseElements"] = map[string]any{"topicArn": "arn:aws:sns:us-east-1:" + account + ":" + topic}
	out, _ := json.Marshal(ev)
	return out
}

// crossRootPolicy is a key policy with only the account's IAM delegation: every
// service grant is missing.
func crossRootPolicy(account string) string {
	return `{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow",` +
		`"Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":"kms:*","Resource":"*"}]}`
}

type crossReport struct {
	Skipped     string `json:"skipped"`
	Evaluations []struct {
		ResourceID string `json:"resourceId"`
		Compliance string `json:"compliance"`
		Findings   []struct {
			Code, Principal string
		} `json:"findings"`
		Actions []struct {
			Type, KeyArn, Status string
		} `json:"actions"`
	} `json:"evaluations"`
}

func TestEventFromAnotherAccountActsThroughTheMemberRole(t *testing.T) {
	memberKeyARN := "arn:aws:kms:us-east-1:" + crossMember + ":key/" + crossKeyID
	ownKeyARN := "arn:aws:kms:us-east-1:" + emulator.KumoAccount + ":key/" + crossOwnKeyID
	s := emulator.NewStack(t, emulator.StackOptions{Kumo: emulator.KumoOptions{Seed: &emulator.KumoSeed{
		Keys: []emulator.SeedKey{
			{ID: crossKeyID, ARN: memberKeyARN, Policy: crossRootPolicy(crossMember)},
			{ID: crossOwnKeyID, ARN: ownKeyARN, Policy: crossRootPolicy(emulator.KumoAccount)},
		},
		Topics: []emulator.SeedTopic{
			{Name: "orders", ARN: "arn:aws:sns:us-east-1:" + crossMember + ":orders",
				Attributes: map[string]string{"KmsMasterKeyId": memberKeyARN}},
			{Name: "payments", ARN: "arn:aws:sns:us-east-1:" + emulator.KumoAccount + ":payments",
				Attributes: map[string]string{"KmsMasterKeyId": ownKeyARN}},
			{Name: "guard-alerts", ARN: crossAlertTopic},
		},
	}}})
	proxy := newCrossProxy(t, s)
	env := emulator.With(s.Env(), map[string]string{
		"AWS_ENDPOINT_URL":                proxy.URL,
		"AWS_ENDPOINT_URL_CONFIG_SERVICE": proxy.URL,
		"AWS_ENDPOINT_URL_SECURITYHUB":    proxy.URL,
		"MODE":                            "remediate",
		"REQUIRED_SERVICE_PRINCIPALS":     "cloudwatch.amazonaws.com",
		"DISCOVER_SOURCES":                "false",
		"CROSS_ACCOUNT_ROLE_NAME":         crossRoleName,
		"ALERT_TOPIC_ARN":                 crossAlertTopic,
		"SECURITY_HUB":                    "true",
	})
	fn, crossOwnKey := crossFunction(t, s, "topic-guard", env)

	// A member's event: assume the role there, then act only with its credentials.
	out, err := fn.Invoke(t.Context(), crossEvent(t, crossMember, "orders", memberKeyARN))
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, fn.Logs())
	}
	var rep crossReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report %s: %v", out, err)
	}
	calls, keys := proxy.take()
	if len(rep.Evaluations) != 1 || rep.Evaluations[0].ResourceID != "arn:aws:sns:us-east-1:"+crossMember+":orders" {
		t.Fatalf("report %s, want one evaluation of the member's topic", out)
	}
	e := rep.Evaluations[0]
	if len(e.Actions) != 2 || e.Actions[0].Type != "PutKeyPolicy" || e.Actions[0].Status != "applied" || e.Actions[0].KeyArn != memberKeyARN ||
		e.Actions[1].Type != "Alert" || e.Actions[1].Status != "applied" {
		t.Errorf("actions %+v, want an applied PutKeyPolicy on %s and an applied Alert", e.Actions, memberKeyARN)
	}
	var assumes []crossCall
	for _, c := range calls {
		if c.Op == "AssumeRole" {
			assumes = append(assumes, c)
		}
	}
	if len(assumes) != 1 || len(keys) != 1 {
		t.Fatalf("AssumeRole calls %d, assumed keys %v; want exactly one (credentials are cached)", len(assumes), keys)
	}
	wantRole := "arn:aws:iam::" + crossMember + ":role/" + crossRoleName
	if got := assumes[0].Form.Get("RoleArn"); got != wantRole {
		t.Errorf("AssumeRole RoleArn %q, want %q", got, wantRole)
	}
	if assumes[0].AccessKey != crossOwnKey || assumes[0].Service != "sts" {
		t.Errorf("AssumeRole signed by %s for %s, want the function's own key for sts", assumes[0].AccessKey, assumes[0].Service)
	}
	assumed := keys[0]
	if assumed == "" || assumed == crossOwnKey {
		t.Fatalf("kumo's AssumeRole returned access key %q", assumed)
	}
	var memberOps []string
	publishes := 0
	for _, c := range calls {
		// Alerts go to the central topic with the function's own credentials: a
		// member role may not publish there.
		if c.Service == "sns" && c.Op == "Publish" {
			publishes++
			if c.AccessKey != crossOwnKey || c.Form.Get("TopicArn") != crossAlertTopic {
				t.Errorf("Publish to %s signed with %s, want the central topic with the function's own key", c.Form.Get("TopicArn"), c.AccessKey)
			}
			continue
		}
		if c.Service == "sts" {
			if c.AccessKey != crossOwnKey {
				t.Errorf("STS %s signed with %s, want the function's own credentials", c.Op, c.AccessKey)
			}
			continue
		}
		memberOps = append(memberOps, c.Service+":"+c.Op)
		if c.AccessKey != assumed {
			t.Errorf("%s %s signed with %q, want the member role's %q", c.Service, c.Op, c.AccessKey, assumed)
		}
	}
	// The write went to the member's key, with the member role's credentials.
	if !slices.Contains(memberOps, "kms:TrentService.PutKeyPolicy") || !slices.Contains(memberOps, "sns:GetTopicAttributes") {
		t.Errorf("member calls %v lack the topic read or the key policy write", memberOps)
	}
	if publishes != 1 {
		t.Errorf("%d alerts published, want 1 (calls %v)", publishes, memberOps)
	}
	// Security Hub takes default-product findings only from the account they name:
	// imported with the member role, AwsAccountId and ProductArn the member's.
	imports := s.SecurityHub.Imports()
	if !slices.ContainsFunc(memberOps, func(op string) bool { return strings.HasPrefix(op, "securityhub:") }) || len(imports) != 1 {
		t.Errorf("Security Hub imports %d, member calls %v: want one import with the member role", len(imports), memberOps)
	} else {
		for _, f := range imports[0] {
			var asff struct{ AwsAccountId, ProductArn string }
			_ = json.Unmarshal(f, &asff)
			if asff.AwsAccountId != crossMember || asff.ProductArn != "arn:aws:securityhub:us-east-1:"+crossMember+":product/"+crossMember+"/default" {
				t.Errorf("finding account %s product %s, want the member's", asff.AwsAccountId, asff.ProductArn)
			}
		}
	}
	t.Logf("member calls with the assumed key %s: %v", assumed, memberOps)

	// The fix names the member account, not the function's.
	policy := crossKeyPolicy(t, s, memberKeyARN)
	if !strings.Contains(policy, `"aws:SourceAccount":"`+crossMember+`"`) || !strings.Contains(policy, `"cloudwatch.amazonaws.com"`) {
		t.Errorf("member key policy after the fix: %s", policy)
	}

	// An event of the function's own account assumes nothing.
	out, err = fn.Invoke(t.Context(), crossEvent(t, emulator.KumoAccount, "payments", ownKeyARN))
	if err != nil {
		t.Fatalf("invoke own account: %v", err)
	}
	calls, keys = proxy.take()
	if len(keys) != 0 {
		t.Errorf("own-account event assumed a role: %v", keys)
	}
	for _, c := range calls {
		if c.AccessKey != crossOwnKey {
			t.Errorf("own-account event: %s %s signed with %q", c.Service, c.Op, c.AccessKey)
		}
	}
	if len(calls) == 0 {
		t.Errorf("own-account event made no call: %s", out)
	}
}

// crossKeyPolicy reads a key policy from kumo directly (JSON protocol, no SDK
// needed), compacted.
func crossKeyPolicy(t *testing.T, s *emulator.Stack, keyARN string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"KeyId": keyARN, "PolicyName": "default"})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.Kumo.URL+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.GetKeyPolicy")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Policy string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("GetKeyPolicy: %v", err)
	}
	var v any
	if err := json.Unmarshal([]byte(out.Policy), &v); err != nil {
		t.Fatalf("policy %q: %v", out.Policy, err)
	}
	compact, _ := json.Marshal(v)
	return string(compact)
}

// TestOrganizationConfigRuleWritesInTheMemberAccount: the organization Config rule
// invokes the central function for a member's topic; the evaluation goes to the
// member's AWS Config (its result token is only valid there) through the role.
func TestOrganizationConfigRuleWritesInTheMemberAccount(t *testing.T) {
	memberKeyARN := "arn:aws:kms:us-east-1:" + crossMember + ":key/" + crossKeyID
	topicARN := "arn:aws:sns:us-east-1:" + crossMember + ":orders"
	s := emulator.NewStack(t, emulator.StackOptions{Kumo: emulator.KumoOptions{Seed: &emulator.KumoSeed{
		Keys:   []emulator.SeedKey{{ID: crossKeyID, ARN: memberKeyARN, Policy: crossRootPolicy(crossMember)}},
		Topics: []emulator.SeedTopic{{Name: "orders", ARN: topicARN, Attributes: map[string]string{"KmsMasterKeyId": memberKeyARN}}},
	}}})
	proxy := newCrossProxy(t, s)
	fn, _ := crossFunction(t, s, "config-rule", emulator.With(s.Env(), map[string]string{
		"AWS_ENDPOINT_URL":                proxy.URL,
		"AWS_ENDPOINT_URL_CONFIG_SERVICE": proxy.URL,
		"REQUIRED_SERVICE_PRINCIPALS":     "cloudwatch.amazonaws.com",
		"DISCOVER_SOURCES":                "false",
		"CROSS_ACCOUNT_ROLE_NAME":         crossRoleName,
	}))
	item := map[string]any{
		"configurationItemVersion": "1.3", "configurationItemCaptureTime": "2025-03-14T09:41:52.118Z",
		"awsAccountId": crossMember, "configurationItemStatus": "OK", "resourceType": "AWS::SNS::Topic",
		"resourceId": topicARN, "resourceName": "orders", "ARN": topicARN, "awsRegion": "us-east-1",
		"configuration": map[string]any{"TopicArn": topicARN, "Owner": crossMember, "KmsMasterKeyId": memberKeyARN},
		"tags":          map[string]any{}, "relationships": []any{}, "relatedEvents": []any{}, "supplementaryConfiguration": map[string]any{},
	}
	inv, _ := json.Marshal(map[string]any{"configurationItem": item, "notificationCreationTime": "2025-03-14T09:41:53.661Z",
		"messageType": "ConfigurationItemChangeNotification", "recordVersion": "1.3"})
	// Organization rules are created in each member account as OrgConfigRule-<name>-<id>.
	ev, _ := json.Marshal(map[string]any{
		"invokingEvent": string(inv), "ruleParameters": "{}", "resultToken": "member-token-1", "eventLeftScope": false,
		"executionRoleArn": "arn:aws:iam::" + crossMember + ":role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig",
		"configRuleArn":    "arn:aws:config:us-east-1:" + crossMember + ":config-rule/config-rule-org01",
		"configRuleName":   "OrgConfigRule-snskeyguard-sns-topic-kms-key-abcd1234",
		"configRuleId":     "config-rule-org01",
		"accountId":        crossMember,
		"version":          "1.0",
	})
	out, err := fn.Invoke(t.Context(), ev)
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, fn.Logs())
	}
	calls, keys := proxy.take()
	if len(keys) != 1 {
		t.Fatalf("assumed keys %v, want one AssumeRole (report %s)", keys, out)
	}
	var put []crossCall
	for _, c := range calls {
		if c.Op == "StarlingDoveService.PutEvaluations" {
			put = append(put, c)
		}
	}
	if len(put) != 1 || put[0].AccessKey != keys[0] {
		t.Errorf("PutEvaluations calls %+v, want one signed with the member role's key %s", put, keys[0])
	}
	got := s.Config.Calls()
	if len(got) != 1 || got[0].ResultToken != "member-token-1" || len(got[0].Evaluations) != 1 ||
		got[0].Evaluations[0].ComplianceResourceID != topicARN || got[0].Evaluations[0].ComplianceType != "NON_COMPLIANT" {
		t.Errorf("Config received %+v, want one NON_COMPLIANT evaluation of %s with the member's token", got, topicARN)
	}

	// An account the StackSet did not reach (no member role: STS denies it) gets a
	// NOT_APPLICABLE saying so, and the invocation succeeds: no endless retries.
	const outsider = "333344445555"
	proxy.denyAssume[outsider] = true
	outsiderEv := strings.ReplaceAll(string(ev), crossMember, outsider)
	out, err = fn.Invoke(t.Context(), []byte(outsiderEv))
	if err != nil {
		t.Fatalf("account without the member role: invocation error %v\n%s", err, fn.Logs())
	}
	var rep struct {
		Skipped     string `json:"skipped"`
		Evaluations []struct {
			ResourceID, Compliance, Note string
		} `json:"evaluations"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report %s: %v", out, err)
	}
	if len(rep.Evaluations) != 1 || rep.Evaluations[0].Compliance != "NOT_APPLICABLE" ||
		!strings.Contains(rep.Evaluations[0].Note, "member role missing") ||
		!strings.Contains(rep.Evaluations[0].Note, "arn:aws:iam::"+outsider+":role/"+crossRoleName) {
		t.Errorf("report %s, want one NOT_APPLICABLE whose note names the missing member role", out)
	}
	calls, _ = proxy.take()
	for _, c := range calls {
		if c.Service != "sts" {
			t.Errorf("call %s %s made for an account without the role", c.Service, c.Op)
		}
	}
	if n := len(s.Config.Calls()); n != 1 {
		t.Errorf("Config calls %d, want still 1", n)
	}
}
