package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

const (
	selfRole  = "arn:aws:sts::111122223333:assumed-role/snskeyguard-TopicGuardRole/snskeyguard-TopicGuard"
	adminRole = "arn:aws:iam::111122223333:role/Admin"
)

const defaultPolicy = `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`

func newGuard(f *fakeAccount, mode string, required ...string) *Guard {
	return &Guard{
		Settings: Settings{Mode: mode, RequiredPrincipals: required, AlertTopicARN: "arn:aws:sns:us-east-1:111122223333:guard-alerts"},
		Account:  func(context.Context, string, string) (Account, error) { return f, nil },
		Identity: func(context.Context) (string, string, error) { return "111122223333", selfRole, nil },
		Classify: classifyFake,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// cloudTrail builds an EventBridge "AWS API Call via CloudTrail" event.
func cloudTrail(t *testing.T, source, name, actor string, params map[string]any, resources ...string) []byte {
	t.Helper()
	svc := strings.TrimPrefix(source, "aws.") + ".amazonaws.com"
	detail := map[string]any{
		"eventVersion": "1.09", "eventSource": svc, "eventName": name, "awsRegion": "us-east-1",
		"userIdentity": map[string]any{"type": "AssumedRole", "arn": actor, "accountId": "111122223333",
			"sessionContext": map[string]any{"sessionIssuer": map[string]any{"type": "Role", "arn": actor, "accountId": "111122223333"}}},
		"requestParameters": params, "eventID": "e1", "eventType": "AwsApiCall", "recipientAccountId": "111122223333",
	}
	if name == "CreateTopic" {
		detail["responseElements"] = map[string]any{"topicArn": fmt.Sprintf("arn:aws:sns:us-east-1:111122223333:%s", params["name"])}
	}
	var res []string
	res = append(res, resources...)
	ev := map[string]any{"version": "0", "id": "x", "detail-type": "AWS API Call via CloudTrail", "source": source,
		"account": "111122223333", "region": "us-east-1", "time": "2026-01-01T00:00:00Z", "resources": res, "detail": detail}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func createTopic(t *testing.T, name string) []byte {
	return cloudTrail(t, "aws.sns", "CreateTopic", adminRole, map[string]any{"name": name})
}

func findingCodes(e report.Evaluation) []string {
	var out []string
	for _, f := range e.Findings {
		s := string(f.Code)
		if f.Principal != "" {
			s += ":" + f.Principal
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func statusesOf(e report.Evaluation) []string {
	var out []string
	for _, a := range e.Actions {
		out = append(out, a.Type+":"+a.Status)
	}
	return out
}

func TestTopicEventAlertModePlansWithoutWriting(t *testing.T) {
	f := newFake()
	f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/orders")
	arn := f.addTopic("orders", "alias/orders", "")
	g := newGuard(f, ModeAlert, "cloudwatch.amazonaws.com")
	rep, err := g.HandleTopicEvent(context.Background(), createTopic(t, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != "alert" || rep.Skipped != "" || len(rep.Evaluations) != 1 {
		t.Fatalf("report %+v", rep)
	}
	e := rep.Evaluations[0]
	if e.ResourceID != arn || e.Compliance != rules.NonCompliant {
		t.Fatalf("evaluation %+v", e)
	}
	if got, want := findingCodes(e), []string{"GRANT_MISSING:cloudwatch.amazonaws.com"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("codes %v, want %v", got, want)
	}
	if got, want := statusesOf(e), []string{"PutKeyPolicy:planned", "Alert:applied"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("actions %v, want %v", got, want)
	}
	if len(f.puts) != 0 {
		t.Fatalf("alert mode wrote %v", f.puts)
	}
	if len(f.published) != 1 || f.published[0].attrs["codes"] != "GRANT_MISSING" || f.published[0].attrs["compliance"] != "NON_COMPLIANT" {
		t.Fatalf("alerts %+v", f.published)
	}
	if e.KMSCost == nil || e.KMSCost.Publishers < 1 {
		t.Fatalf("kmsCost %+v", e.KMSCost)
	}
}

func TestTopicEventRemediateFixesOnceAndIsIdempotent(t *testing.T) {
	f := newFake()
	k := f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/orders")
	f.addTopic("orders", "alias/orders", "")
	g := newGuard(f, ModeRemediate, "cloudwatch.amazonaws.com", "events.amazonaws.com")
	rep, err := g.HandleTopicEvent(context.Background(), createTopic(t, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	e := rep.Evaluations[0]
	if got, want := findingCodes(e), []string{"GRANT_MISSING:cloudwatch.amazonaws.com", "GRANT_MISSING:events.amazonaws.com"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("codes %v, want %v", got, want)
	}
	if got, want := statusesOf(e), []string{"PutKeyPolicy:applied", "Alert:applied"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("actions %v, want %v", got, want)
	}
	if e.Compliance != rules.Compliant {
		t.Fatalf("compliance after fix %s", e.Compliance)
	}
	if len(f.puts) != 1 {
		t.Fatalf("want one write, got %v", f.puts)
	}
	doc, err := policy.Parse(k.Policy)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Statements) != 3 {
		t.Fatalf("want root + 2 service statements, got %s", k.Policy)
	}
	// The untouched root statement is kept as it was.
	orig, _ := policy.Parse([]byte(defaultPolicy))
	a, _ := json.Marshal(orig.Statements[0].Action)
	b, _ := json.Marshal(doc.Statements[0].Action)
	if string(a) != string(b) || doc.Statements[0].Sid != "Enable IAM User Permissions" {
		t.Fatalf("root statement changed: %s", k.Policy)
	}
	// Second run: nothing to write.
	rep, err = g.HandleTopicEvent(context.Background(), createTopic(t, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.puts) != 1 || rep.Evaluations[0].Compliance != rules.Compliant || len(rep.Evaluations[0].Findings) != 0 {
		t.Fatalf("second run: puts %v, eval %+v", f.puts, rep.Evaluations[0])
	}
}

func TestSkips(t *testing.T) {
	f := newFake()
	f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/orders")
	f.addTopic("orders", "alias/orders", "")
	g := newGuard(f, ModeRemediate, "cloudwatch.amazonaws.com")
	self := cloudTrail(t, "aws.sns", "CreateTopic", "arn:aws:iam::111122223333:role/snskeyguard-TopicGuardRole", map[string]any{"name": "orders"})
	rep, err := g.HandleTopicEvent(context.Background(), self)
	if err != nil || !strings.Contains(rep.Skipped, "own change") || len(rep.Evaluations) != 0 {
		t.Fatalf("self event: %+v %v", rep, err)
	}
	keyEv := cloudTrail(t, "aws.kms", "PutKeyPolicy", adminRole, map[string]any{"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "policyName": "default", "policy": defaultPolicy}, "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
	rep, err = g.HandleTopicEvent(context.Background(), keyEv)
	if err != nil || !strings.Contains(rep.Skipped, "does not handle") {
		t.Fatalf("key event at topic-guard: %+v %v", rep, err)
	}
	if len(f.puts) != 0 || f.calls["GetTopicAttributes"] != 0 {
		t.Fatalf("skipped events touched AWS: %v", f.calls)
	}
	if _, err := g.HandleTopicEvent(context.Background(), []byte(`{"detail":`)); err == nil {
		t.Fatal("malformed event: want error")
	}
}

func TestRetryableFaultFailsTheInvocation(t *testing.T) {
	f := newFake()
	f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/orders")
	f.addTopic("orders", "alias/orders", "")
	f.errs["GetKeyPolicy"] = apiErr("ThrottlingException")
	g := newGuard(f, ModeRemediate, "cloudwatch.amazonaws.com")
	_, err := g.HandleTopicEvent(context.Background(), createTopic(t, "orders"))
	var re *RetryableError
	if !errors.As(err, &re) {
		t.Fatalf("want RetryableError, got %v", err)
	}
	if len(f.puts) != 0 || len(f.published) != 0 {
		t.Fatal("a failed invocation must not write")
	}
}

func TestPutFaultLeavesPolicyUntouched(t *testing.T) {
	f := newFake()
	k := f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/orders")
	f.addTopic("orders", "alias/orders", "")
	f.errs["PutKeyPolicy"] = apiErr("InternalFailure")
	g := newGuard(f, ModeRemediate, "cloudwatch.amazonaws.com")
	_, err := g.HandleTopicEvent(context.Background(), createTopic(t, "orders"))
	var re *RetryableError
	if !errors.As(err, &re) || string(k.Policy) != defaultPolicy {
		t.Fatalf("err %v policy %s", err, k.Policy)
	}
}

func TestKeyNotFoundIsAFinding(t *testing.T) {
	f := newFake()
	f.addTopic("orders", "alias/missing", "")
	g := newGuard(f, ModeRemediate)
	rep, err := g.HandleTopicEvent(context.Background(), createTopic(t, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	if got := findingCodes(rep.Evaluations[0]); !reflect.DeepEqual(got, []string{"KEY_NOT_FOUND"}) {
		t.Fatalf("codes %v", got)
	}
}

func TestOutsideEditBetweenReadAndWriteIsKept(t *testing.T) {
	f := newFake()
	k := f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/orders")
	f.addTopic("orders", "alias/orders", "")
	edited := `{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},{"Sid":"OutsideEdit","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Reader"},"Action":"kms:DescribeKey","Resource":"*"}]}`
	f.beforeGet = func(n int) {
		if n == 2 { // the re-read just before the write
			k.Policy = []byte(edited)
		}
	}
	g := newGuard(f, ModeRemediate, "cloudwatch.amazonaws.com")
	rep, err := g.HandleTopicEvent(context.Background(), createTopic(t, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	if got := statusesOf(rep.Evaluations[0]); got[0] != "PutKeyPolicy:applied" {
		t.Fatalf("actions %v", got)
	}
	if !strings.Contains(string(k.Policy), "OutsideEdit") || !strings.Contains(string(k.Policy), "cloudwatch.amazonaws.com") {
		t.Fatalf("outside edit lost or fix missing: %s", k.Policy)
	}
}

func TestKeyEventFixesEveryTopicInOneWrite(t *testing.T) {
	f := newFake()
	k := f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/shared")
	f.addTopic("a", "alias/shared", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"sns:Publish","Resource":"*"}]}`)
	f.addTopic("b", k.ARN, `{"Statement":[{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"SNS:Publish","Resource":"*"}]}`)
	f.addTopic("c", "", "")
	g := newGuard(f, ModeRemediate)
	ev := cloudTrail(t, "aws.kms", "PutKeyPolicy", adminRole, map[string]any{"keyId": k.ARN, "policyName": "default", "policy": defaultPolicy}, k.ARN)
	rep, err := g.HandleKeyEvent(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Evaluations) != 2 {
		t.Fatalf("want the two topics on the key, got %+v", rep.Evaluations)
	}
	if len(f.puts) != 1 {
		t.Fatalf("want exactly one write for the key, got %v", f.puts)
	}
	for _, p := range []string{"s3.amazonaws.com", "cloudwatch.amazonaws.com"} {
		if !strings.Contains(string(k.Policy), p) {
			t.Fatalf("fix lacks %s: %s", p, k.Policy)
		}
	}
	for _, e := range rep.Evaluations {
		if e.Compliance != rules.Compliant {
			t.Fatalf("after the fix %s is %s", e.ResourceID, e.Compliance)
		}
	}
}

func configSweep(token string) []byte {
	inv, _ := json.Marshal(map[string]any{"awsAccountId": "111122223333", "notificationCreationTime": "2026-01-01T00:00:00.000Z", "messageType": "ScheduledNotification", "recordVersion": "1.0"})
	b, _ := json.Marshal(map[string]any{"invokingEvent": string(inv), "resultToken": token, "eventLeftScope": false,
		"configRuleArn": "arn:aws:config:us-east-1:111122223333:config-rule/config-rule-ab12cd", "configRuleName": "sns", "accountId": "111122223333", "version": "1.0"})
	return b
}

func TestConfigSweepBatchesEvaluations(t *testing.T) {
	f := newFake()
	f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/k")
	for i := 0; i < 250; i++ {
		f.addTopic(fmt.Sprintf("t%03d", i), "alias/k", "")
	}
	g := newGuard(f, ModeAlert)
	g.Settings.AlertTopicARN = ""
	rep, err := g.HandleConfigEvent(context.Background(), configSweep("token"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Evaluations) != 250 {
		t.Fatalf("evaluations %d", len(rep.Evaluations))
	}
	var sizes []int
	for _, b := range f.evaluations {
		sizes = append(sizes, len(b))
	}
	if !reflect.DeepEqual(sizes, []int{100, 100, 50}) {
		t.Fatalf("batches %v", sizes)
	}
	if f.calls["DescribeKey"] != 1 || f.calls["GetKeyPolicy"] != 1 {
		t.Fatalf("each key must be read once per sweep: %v", f.calls)
	}
	f.evaluations = nil
	if _, err := g.HandleConfigEvent(context.Background(), configSweep("TESTMODE")); err != nil || len(f.evaluations) != 0 {
		t.Fatalf("TESTMODE wrote evaluations: %v %v", f.evaluations, err)
	}
}

func TestRepointUnencryptedTopicToRemediationKey(t *testing.T) {
	f := newFake()
	rk := f.addKey("99999999-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/remediation")
	arn := f.addTopic("plain", "", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"sns:Publish","Resource":"*"}]}`)
	g := newGuard(f, ModeRemediate)
	g.Settings.RemediationKeyID = "alias/remediation"
	rep, err := g.HandleTopicEvent(context.Background(), createTopic(t, "plain"))
	if err != nil {
		t.Fatal(err)
	}
	e := rep.Evaluations[0]
	if got := findingCodes(e); !reflect.DeepEqual(got, []string{"TOPIC_UNENCRYPTED"}) {
		t.Fatalf("codes %v", got)
	}
	if got, want := statusesOf(e), []string{"PutKeyPolicy:applied", "SetTopicAttributes:applied", "Alert:applied"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("actions %v, want %v", got, want)
	}
	if f.topics[arn].KMSMasterKeyID != rk.ARN || !strings.Contains(string(rk.Policy), "cloudwatch.amazonaws.com") {
		t.Fatalf("topic key %q, policy %s", f.topics[arn].KMSMasterKeyID, rk.Policy)
	}
	if e.Compliance != rules.Compliant {
		t.Fatalf("compliance %s", e.Compliance)
	}
}

func TestExemptTopicIsNotApplicable(t *testing.T) {
	f := newFake()
	f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/orders")
	arn := f.addTopic("orders", "alias/orders", "")
	f.topics[arn].Tags = map[string]string{"snskeyguard:exempt": "yes"}
	g := newGuard(f, ModeRemediate, "cloudwatch.amazonaws.com")
	g.Settings.ExemptTagKey = "snskeyguard:exempt"
	rep, err := g.HandleTopicEvent(context.Background(), createTopic(t, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Evaluations[0].Compliance != rules.NotApplicable || !strings.Contains(rep.Skipped, "exempt") || len(f.puts) != 0 {
		t.Fatalf("report %+v puts %v", rep, f.puts)
	}
}

func TestRepointSkippedWhenTopicChangedMeanwhile(t *testing.T) {
	f := newFake()
	f.addKey("99999999-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/remediation")
	arn := f.addTopic("plain", "", "")
	// Someone encrypts the topic between our read and our write.
	f.beforeTopic = func(n int) {
		if n == 2 {
			f.topics[arn].KMSMasterKeyID = "alias/theirs"
		}
	}
	g := newGuard(f, ModeRemediate)
	g.Settings.RemediationKeyID = "alias/remediation"
	rep, err := g.HandleTopicEvent(context.Background(), createTopic(t, "plain"))
	if err != nil {
		t.Fatal(err)
	}
	got := statusesOf(rep.Evaluations[0])
	if len(got) < 1 || got[0] != "SetTopicAttributes:skipped" || f.topics[arn].KMSMasterKeyID != "alias/theirs" || f.calls["SetTopicAttributes"] != 0 {
		t.Fatalf("actions %v, topic key %q, calls %v", got, f.topics[arn].KMSMasterKeyID, f.calls)
	}
}

func TestPolicyTooLargeWritesNothing(t *testing.T) {
	f := newFake()
	var stmts []string
	for i := 0; len(strings.Join(stmts, ",")) < 32400; i++ {
		stmts = append(stmts, fmt.Sprintf(`{"Sid":"Filler%03d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/filler-role-number-%03d"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}`, i, i))
	}
	big := `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
	k := f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", big, "alias/orders")
	f.addTopic("orders", "alias/orders", "")
	g := newGuard(f, ModeRemediate, "cloudwatch.amazonaws.com")
	rep, err := g.HandleTopicEvent(context.Background(), createTopic(t, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	e := rep.Evaluations[0]
	if got, want := findingCodes(e), []string{"GRANT_MISSING:cloudwatch.amazonaws.com", "POLICY_TOO_LARGE"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("codes %v, want %v", got, want)
	}
	if len(f.puts) != 0 || string(k.Policy) != big || e.Compliance != rules.NonCompliant {
		t.Fatalf("wrote %v; compliance %s", f.puts, e.Compliance)
	}
}

func TestConfigChangeDeletedAndRuleParameters(t *testing.T) {
	f := newFake()
	f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/orders")
	arn := f.addTopic("orders", "alias/orders", "")
	g := newGuard(f, ModeAlert)
	g.Settings.AlertTopicARN = ""
	change := func(status string) []byte {
		item := map[string]any{"configurationItemCaptureTime": "2026-01-01T00:00:00.000Z", "configurationItemStatus": status,
			"resourceType": "AWS::SNS::Topic", "resourceId": arn, "resourceName": "orders", "ARN": arn, "awsRegion": "us-east-1", "awsAccountId": "111122223333",
			"configuration": map[string]any{"TopicArn": arn}}
		inv, _ := json.Marshal(map[string]any{"configurationItem": item, "notificationCreationTime": "2026-01-01T00:00:01.000Z", "messageType": "ConfigurationItemChangeNotification", "recordVersion": "1.3"})
		b, _ := json.Marshal(map[string]any{"invokingEvent": string(inv), "ruleParameters": `{"requiredServicePrincipals":"s3.amazonaws.com"}`,
			"resultToken": "tok", "eventLeftScope": false, "configRuleArn": "arn:aws:config:us-east-1:111122223333:config-rule/config-rule-ab12cd",
			"configRuleName": "r", "accountId": "111122223333", "version": "1.0"})
		return b
	}
	rep, err := g.HandleConfigEvent(context.Background(), change("OK"))
	if err != nil {
		t.Fatal(err)
	}
	if got := findingCodes(rep.Evaluations[0]); !reflect.DeepEqual(got, []string{"GRANT_MISSING:s3.amazonaws.com"}) {
		t.Fatalf("rule parameter not honoured: %v", got)
	}
	if len(f.evaluations) != 1 || f.evaluations[0][0].Compliance != "NON_COMPLIANT" || f.evaluations[0][0].Annotation != "GRANT_MISSING" {
		t.Fatalf("evaluations %+v", f.evaluations)
	}
	f.evaluations = nil
	before := f.calls["GetTopicAttributes"]
	rep, err = g.HandleConfigEvent(context.Background(), change("ResourceDeleted"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Evaluations[0].Compliance != rules.NotApplicable || f.calls["GetTopicAttributes"] != before ||
		len(f.evaluations) != 1 || f.evaluations[0][0].Compliance != "NOT_APPLICABLE" {
		t.Fatalf("deleted: %+v %+v", rep, f.evaluations)
	}
}

func TestOtherAccountEventActsThroughThatAccount(t *testing.T) {
	f := newFake()
	f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/orders")
	f.addTopic("orders", "alias/orders", "")
	g := newGuard(f, ModeAlert)
	var asked []string
	g.Account = func(_ context.Context, id, region string) (Account, error) {
		asked = append(asked, id+"/"+region)
		return f, nil
	}
	if _, err := g.HandleTopicEvent(context.Background(), createTopic(t, "orders")); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(asked, []string{"111122223333/us-east-1"}) {
		t.Fatalf("accounts asked %v", asked)
	}
	g.Account = func(context.Context, string, string) (Account, error) {
		return nil, errors.New("no cross-account role configured")
	}
	if _, err := g.HandleTopicEvent(context.Background(), createTopic(t, "orders")); err == nil {
		t.Fatal("want an error when the account cannot be reached")
	}
}

func TestChangesByTheCrossAccountRoleAreSelf(t *testing.T) {
	f := newFake()
	f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/orders")
	f.addTopic("orders", "alias/orders", "")
	g := newGuard(f, ModeRemediate, "cloudwatch.amazonaws.com")
	g.Settings.CrossAccountRoleName = "snskeyguard-member"
	ev := cloudTrail(t, "aws.sns", "CreateTopic", "arn:aws:iam::111122223333:role/snskeyguard-member", map[string]any{"name": "orders"})
	rep, err := g.HandleTopicEvent(context.Background(), ev)
	if err != nil || !strings.Contains(rep.Skipped, "own change") || f.calls["GetTopicAttributes"] != 0 {
		t.Fatalf("cross-account role event: %+v %v", rep, err)
	}
}

// selectingAccount answers the Config query for a key's topics.
type selectingAccount struct {
	*fakeAccount
	answer []string
}

func (s selectingAccount) SelectTopicsByKey(context.Context, string, []string) ([]string, error) {
	s.calls["SelectResourceConfig"]++
	return s.answer, nil
}

func TestKeyEventUsesConfigQueryAndFallsBackOnEmpty(t *testing.T) {
	f := newFake()
	k := f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/shared")
	a := f.addTopic("a", "alias/shared", "")
	f.addTopic("b", "", "")
	ev := cloudTrail(t, "aws.kms", "PutKeyPolicy", adminRole, map[string]any{"keyId": k.ARN, "policyName": "default", "policy": defaultPolicy}, k.ARN)
	for _, tc := range []struct {
		answer    []string
		listCalls int
	}{{[]string{a}, 0}, {nil, 1}} {
		f.calls = map[string]int{}
		g := newGuard(f, ModeAlert, "cloudwatch.amazonaws.com")
		g.Account = func(context.Context, string, string) (Account, error) { return selectingAccount{f, tc.answer}, nil }
		rep, err := g.HandleKeyEvent(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Evaluations) != 1 || rep.Evaluations[0].ResourceID != a || f.calls["ListTopics"] != tc.listCalls || f.calls["SelectResourceConfig"] != 1 {
			t.Fatalf("answer %v: evaluations %+v calls %v", tc.answer, rep.Evaluations, f.calls)
		}
	}
}

// A compliant CreateTopic costs the topic read, the key's description and
// policy, and the discovery listings: nothing more.
func TestCompliantCreateTopicMakesOnlyTheNeededCalls(t *testing.T) {
	f := newFake()
	compliant := `{"Version":"2012-10-17","Statement":[{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},` +
		`{"Sid":"cw","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",` +
		`"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"},"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}}]}`
	f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", compliant, "alias/orders")
	arn := f.addTopic("orders", "alias/orders", "")
	f.alarms[arn] = []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:high-latency"}
	g := newGuard(f, ModeRemediate)
	g.Settings.DiscoverSources = true
	rep, err := g.HandleTopicEvent(context.Background(), createTopic(t, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Evaluations[0].Compliance != rules.Compliant {
		t.Fatalf("evaluation %+v", rep.Evaluations[0])
	}
	want := map[string]int{"GetTopicAttributes": 1, "DescribeKey": 1, "GetKeyPolicy": 1, "DescribeAlarms": 1, "ListRules": 1}
	if !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
}
