package reliability

// What internal/template already proves, and this file does not repeat:
//   - TestIAMGrantsOnlyTheAllowListAndWritesOnlyInRemediate: every IAM
//     statement of template.yaml against the allow-list of actions per
//     function, for every parameter combination, each on its narrowest resource;
//   - TestStoredDataIsEncryptedWithTheStackKey: the alert topic and the
//     dead-letter queue are encrypted with the stack's customer managed key;
//   - TestResourcePoliciesGrantNoWildcardActionsButTheRootDelegation.
// shared/plan's FuzzFix (make fuzz) proves by fuzzing that the planner adds
// only principals from the SNS documentation's service-principal table.
//
// What is added here: the AWS calls the functions really make (counted by
// the edge in these suites) are all granted by their role in template.yaml;
// logs at info level carry no policy text and no credentials, also under
// faults and bad input; and a seeded property check of the planner over this
// package's hostile policies with hostile grants.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/awslabs/goformation/v7/intrinsics"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
	"github.com/snskeyguard/snskeyguard/shared/function"
	"github.com/snskeyguard/snskeyguard/shared/guard"
	"github.com/snskeyguard/snskeyguard/shared/plan"
	"github.com/snskeyguard/snskeyguard/shared/rules"
	"github.com/snskeyguard/snskeyguard/shared/sources"
	"github.com/snskeyguard/snskeyguard/shared/telemetry"
)

// iamPrefix maps the edge's "Service.Operation" counter names to IAM action prefixes.
var iamPrefix = map[string]string{"KMS": "kms", "SNS": "sns", "STS": "sts", "CloudWatch": "cloudwatch",
	"EventBridge": "events", "ConfigService": "config", "SecurityHub": "securityhub"}

// needNoPermission are calls IAM does not authorise.
var needNoPermission = []string{"sts:GetCallerIdentity"}

// roleActions returns every action any statement of the role may grant (all
// Fn::If branches), from its inline policies and the stack's AWS::IAM::Policy
// resources attached to it.
func roleActions(t *testing.T, role string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(out, &tpl); err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	var walk func(v any, underAction bool)
	walk = func(v any, underAction bool) {
		switch x := v.(type) {
		case string:
			if underAction {
				actions[x] = true
			}
		case []any:
			for _, e := range x {
				walk(e, underAction)
			}
		case map[string]any:
			for k, e := range x {
				walk(e, underAction || k == "Action")
			}
		}
	}
	r, ok := tpl.Resources[role]
	if !ok || r.Type != "AWS::IAM::Role" {
		t.Fatalf("template.yaml has no role %s", role)
	}
	walk(r.Properties["Policies"], false)
	for _, res := range tpl.Resources {
		if res.Type != "AWS::IAM::Policy" {
			continue
		}
		b, _ := json.Marshal(res.Properties["Roles"])
		if bytes.Contains(b, []byte(`"`+role+`"`)) {
			walk(res.Properties["PolicyDocument"], false)
		}
	}
	return actions
}

// TestRuntimeCallsAreGranted makes one clean remediating run of topic-guard
// and key-guard (so the test stands alone), then checks every AWS call the
// functions made in this package's suites against their role in template.yaml.
func TestRuntimeCallsAreGranted(t *testing.T) {
	w := newWorld(t, worldSeed())
	for _, tc := range []struct {
		e   entry
		raw []byte
	}{{topicGuard, createTopicEvent(topicARN)}, {keyGuard, putKeyPolicyEvent(keyID)}} {
		w.setPolicy(keyID, []byte(originalPolicy))
		g, edge := w.guard(guard.ModeRemediate, nil, fastEdge)
		if o := invoke(g, tc.e, tc.raw); o.err != nil || !applied(o.rep) {
			t.Fatalf("%s: %v %+v", tc.e.name, o.err, o.rep)
		}
		recordCalls(tc.e.name, edge.Calls())
	}
	roles := map[string]string{"topic-guard": "TopicGuardRole", "key-guard": "KeyGuardRole"}
	usedCalls.Lock()
	defer usedCalls.Unlock()
	for fn, role := range roles {
		granted := roleActions(t, role)
		var used []string
		for call := range usedCalls.m[fn] {
			svc, op, _ := strings.Cut(call, ".")
			action := iamPrefix[svc] + ":" + op
			used = append(used, action)
			if !granted[action] && !slices.Contains(needNoPermission, action) {
				t.Errorf("%s calls %s but %s in template.yaml does not grant it", fn, action, role)
			}
		}
		slices.Sort(used)
		if !slices.Contains(used, "kms:PutKeyPolicy") || !slices.Contains(used, "sns:Publish") {
			t.Errorf("%s: the runs made no write and no alert (%v): the check proves nothing", fn, used)
		}
		t.Logf("%s used %v", fn, used)
	}
}

// syncBuffer is a log sink shared by concurrent invocations.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsHoldNoPolicyOrCredentials drives the functions through their real
// wiring (shared/function.New, JSON logs at info) with a fix, a PutKeyPolicy
// event that carries the whole policy, faults and every bad event, and
// checks the captured log lines for policy text and credentials.
func TestLogsHoldNoPolicyOrCredentials(t *testing.T) {
	w := newWorld(t, worldSeed())
	t.Setenv("AWS_ENDPOINT_URL", w.proxy.URL)
	t.Setenv("LOG_LEVEL", "info")
	var buf syncBuffer
	log := telemetry.NewLogger(&buf)
	// The metric lines (EMF) go to stdout: capture and check them too.
	emf, err := os.CreateTemp(t.TempDir(), "emf")
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = emf
	defer func() { os.Stdout = stdout }()
	// The X-Ray SDK's messages go through slog's default logger.
	prev := slog.Default()
	slog.SetDefault(log)
	defer slog.SetDefault(prev)
	env := map[string]string{"MODE": "remediate", "REQUIRED_SERVICE_PRINCIPALS": required, "ALERT_TOPIC_ARN": alertARN}
	handlers := map[string]func(context.Context, json.RawMessage) (any, error){}
	for name, e := range map[string]function.Entry{"topic-guard": function.TopicGuard, "key-guard": function.KeyGuard, "config-rule": function.ConfigRule} {
		h, err := function.New(context.Background(), name, e, func(k string) string { return env[k] }, log)
		if err != nil {
			t.Fatal(err)
		}
		handlers[name] = func(ctx context.Context, raw json.RawMessage) (any, error) { return h(ctx, raw) }
	}
	call := func(name string, raw []byte) {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("%s panicked: %v", name, r)
			}
		}()
		_, _ = handlers[name](context.Background(), raw)
	}
	// A fix, then the same under faults.
	call("topic-guard", createTopicEvent(topicARN))
	// function.New keeps the edge's default retries (5 attempts, back-off up
	// to 5 s), so few runs, at a low rate.
	for i := range 4 {
		w.setPolicy(keyID, []byte(originalPolicy))
		w.proxy.Reset(int64(i), []emulator.FaultRule{{Ops: []string{"*"}, Rate: 0.15,
			Faults: []emulator.Fault{emulator.FaultThrottling, emulator.FaultSNSThrottled, emulator.FaultHTTP500, emulator.FaultDrop}}})
		call([]string{"topic-guard", "key-guard"}[i%2], [][]byte{createTopicEvent(topicARN), putKeyPolicyEvent(keyID)}[i%2])
	}
	w.proxy.Reset(0, nil)
	// A policy that cannot be parsed (its text must not be echoed either).
	w.setPolicy(keyID, []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"SecretSid","Effect":"Maybe"}]}`))
	call("key-guard", putKeyPolicyEvent(keyID))
	bad, _ := filepath.Glob(filepath.Join("..", "..", "shared", "trigger", "testdata", "bad", "*.json"))
	for _, f := range bad {
		raw, _ := os.ReadFile(f)
		for name := range handlers {
			call(name, raw)
		}
	}
	os.Stdout = stdout
	metrics, _ := os.ReadFile(emf.Name())
	logs := buf.String() + string(metrics)
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) < 100 {
		t.Fatalf("only %d log lines captured: the check would prove nothing", len(lines))
	}
	for _, needle := range []string{`"Statement"`, `\"Statement\"`, `\"Sid\"`, "SecretSid", "kms:GenerateDataKey*",
		accessKeyID, secretAccessKey, "AWS_SECRET", "aws_secret_access_key", "X-Amz-Security-Token", "Authorization"} {
		for _, l := range lines {
			if strings.Contains(l, needle) {
				t.Errorf("a log line carries %q: %.300s", needle, l)
				break
			}
		}
	}
	// Positive control: the decision lines are there, with the policy's hash.
	if !strings.Contains(logs, `"msg":"key policy fix"`) || !strings.Contains(logs, `"policyHash"`) {
		t.Errorf("no decision line with a policy hash in %d lines", len(lines))
	}
	t.Logf("%d info log and metric lines checked (fix, faults, unparseable policy, %d bad events x 3)", len(lines), len(bad))
}

// TestPlannerNeverWidens is a seeded property check beside shared/plan's
// FuzzFix: every hostile policy of this package, fixed with random grant
// sets that include principals outside the SNS documentation's service-principal table, wildcards, accounts
// and lookalikes. A grant outside the table is refused; any change adds only
// table principals, one statement each, keeps every other statement, and
// allows nothing new on plan.Grid beyond the grants' own SNS calls.
func TestPlannerNeverWidens(t *testing.T) {
	var inputs [][]byte
	for _, dir := range []string{"testdata/policies/*.json", "testdata/odd/*.json"} {
		files, _ := filepath.Glob(dir)
		for _, f := range files {
			b, _ := os.ReadFile(f)
			inputs = append(inputs, b)
		}
	}
	inputs = append(inputs, []byte(originalPolicy), []byte(editedPolicy))
	pool := append(slices.Clone(fullGrants),
		rules.Grant{Principal: "codestar-notifications.amazonaws.com", SourceAccounts: []string{acct}, SourceARNs: []string{"arn:aws:codestar-notifications:us-east-1:" + acct + ":notificationrule/*"}},
		rules.Grant{Principal: "lambda.amazonaws.com", SourceAccounts: []string{acct}, SourceARNs: []string{"arn:aws:lambda:us-east-1:" + acct + ":function:*"}},
		rules.Grant{Principal: "*"},
		rules.Grant{Principal: "arn:aws:iam::111122223333:root"},
		rules.Grant{Principal: "cloudwatch.amazonaws.com\u200b", SourceAccounts: []string{acct}, SourceARNs: []string{"arn:aws:cloudwatch:us-east-1:" + acct + ":alarm:*"}},
		rules.Grant{Principal: "s3.amazonaws.com", SourceAccounts: []string{"*"}, SourceARNs: []string{"*"}},
		rules.Grant{Principal: "s3.amazonaws.com", SourceAccounts: []string{acct}, SourceARNs: []string{`arn:aws:s3:::x"}],"Statement":[{"Effect":"Allow`}},
	)
	rng := rand.New(rand.NewSource(4))
	checks, refused, changed := 0, 0, 0
	for i := 0; i < 40*len(inputs); i++ {
		in := inputs[i%len(inputs)]
		var grants []rules.Grant
		for _, g := range pool {
			if rng.Intn(3) == 0 {
				grants = append(grants, g)
			}
		}
		ch, err := plan.Fix(in, grants)
		checks++
		outside := slices.ContainsFunc(grants, func(g rules.Grant) bool { return !sources.InTable(g.Principal) })
		switch {
		case err != nil:
			if errors.Is(err, plan.ErrRefused) {
				refused++
			}
			continue
		case outside:
			t.Errorf("input %d: grants %v with a principal outside the table were not refused", i%len(inputs), grants)
		case ch.Changed:
			changed++
			if bad := plan.CheckFix(in, ch.Policy, grants...); bad != nil {
				t.Errorf("input %d grants %v: %v\n%s", i%len(inputs), grants, bad, ch.Policy)
			}
			// No new allow outside the grants' own kms:GenerateDataKey*/kms:Decrypt.
			if wide, err := (plan.Grid{Account: acct, Region: "us-east-1", Grants: grants}).Widened(in, ch.Policy); err != nil || len(wide) > 0 {
				t.Errorf("input %d grants %v widened the key policy (%v):\n%s\n%s", i%len(inputs), grants, err, strings.Join(wide, "\n"), ch.Policy)
			}
		}
	}
	if refused == 0 || changed == 0 {
		t.Errorf("refused=%d changed=%d: the property was not exercised", refused, changed)
	}
	t.Logf("planner property: %d fixes, %d refused, %d changed, 0 widened", checks, refused, changed)
}
