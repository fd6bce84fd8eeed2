package reliability

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
	"github.com/snskeyguard/snskeyguard/shared/awsedge"
	"github.com/snskeyguard/snskeyguard/shared/function"
	"github.com/snskeyguard/snskeyguard/shared/guard"
	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// The world every suite starts from: one key whose policy needs a fix (an
// own CloudWatch statement without confused-deputy conditions; EventBridge
// and S3 missing), a topic on it, and an unencrypted alert topic.
const (
	acct     = emulator.KumoAccount
	keyID    = "5e1f0000-0000-4000-8000-000000000001"
	keyARN   = "arn:aws:kms:us-east-1:" + acct + ":key/" + keyID
	topicARN = "arn:aws:sns:us-east-1:" + acct + ":orders"
	topic2   = "arn:aws:sns:us-east-1:" + acct + ":audit"
	alertARN = "arn:aws:sns:us-east-1:" + acct + ":guard-alerts"
	required = "cloudwatch.amazonaws.com,events.amazonaws.com"

	// Fake credentials with recognisable values: the log suite asserts that
	// neither ever appears in a log line.
	accessKeyID     = "AKIARELIABILITY7TEST"
	secretAccessKey = "reliabilitySecretMustNeverBeLogged0000000"
)

const rootStatement = `{
      "Sid": "Enable IAM User Permissions",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
      "Action": "kms:*",
      "Resource": "*"
    }`

// originalPolicy is formatted the way the console writes key policies, so a
// byte comparison after a run proves the guard did not rewrite it.
const originalPolicy = `{
  "Version": "2012-10-17",
  "Id": "key-consolepolicy-3",
  "Statement": [
    ` + rootStatement + `,
    {
      "Sid": "AllowCloudWatch",
      "Effect": "Allow",
      "Principal": {"Service": "cloudwatch.amazonaws.com"},
      "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
      "Resource": "*"
    }
  ]
}`

func topicPolicy(arn, service, sourceARN string) string {
	return `{"Version":"2012-10-17","Statement":[{"Sid":"publish","Effect":"Allow","Principal":{"Service":"` + service +
		`"},"Action":"sns:Publish","Resource":"` + arn + `","Condition":{"ArnLike":{"aws:SourceArn":"` + sourceARN +
		`"},"StringEquals":{"aws:SourceAccount":"` + acct + `"}}}]}`
}

var ordersPolicy = topicPolicy(topicARN, "s3.amazonaws.com", "arn:aws:s3:::orders-uploads")

func worldSeed() *emulator.KumoSeed {
	return &emulator.KumoSeed{
		Keys: []emulator.SeedKey{{ID: keyID, Aliases: []string{"alias/orders"}, Policy: originalPolicy}},
		Topics: []emulator.SeedTopic{
			{Name: "orders", Attributes: map[string]string{"KmsMasterKeyId": "alias/orders", "Policy": ordersPolicy}},
			{Name: "guard-alerts"},
		},
	}
}

// Figures collected by every suite and printed by TestMain (make reliability
// greps these lines).
// figures are what the suites measured, printed after the run. Only counts
// that can vary are figures: a lost event, an invalid write, a panic or a
// race violation fails the suite (t.Errorf), so a green run has none of them.
var figures struct {
	sync.Mutex
	faultsInjected                                                     int
	faultRuns, faultRunsFixed, faultRunsFixedAfterFaults, faultRunsErr int
	badInputs                                                          int
	raceRuns, raceRoundsIncomplete                                     int
	editRuns, editsOverwritten, editsDeadLettered                      int
	announceRuns, announceFixes, fixesUnannounced, announceDuplicates  int
	// announcePaths: per fix path, the fixes applied and where their
	// announcement was found (topic, queue, failure record).
	announcePaths map[string]*pathTally
}

func count(f func()) {
	figures.Lock()
	defer figures.Unlock()
	f()
}

func TestMain(m *testing.M) {
	// The SDK reads these from the process; the suites' HTTP clients dial the
	// world's proxy whatever the host, so the endpoint host is never resolved.
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": "http://aws.emulated.invalid", "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": accessKeyID, "AWS_SECRET_ACCESS_KEY": secretAccessKey, "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_PROFILE": "",
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		os.Setenv(k, v)
	}
	// The fault workers spend their time in the SDK's retry back-off and in
	// held answers, not on the CPU: let more of them run than GOMAXPROCS
	// (go test's default -parallel), unless -parallel was given.
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", "8")
	}
	code := m.Run()
	figures.Lock()
	fmt.Printf("faults_injected=%d\n", figures.faultsInjected)
	fmt.Printf("fault_runs=%d fault_runs_fixed=%d fault_runs_fixed_after_faults=%d fault_runs_retryable_error=%d\n",
		figures.faultRuns, figures.faultRunsFixed, figures.faultRunsFixedAfterFaults, figures.faultRunsErr)
	fmt.Printf("bad_inputs=%d bad_inputs_min=%d\n", figures.badInputs, minBadEvents+minBadPolicies+minOddPolicies)
	fmt.Printf("race_rounds=%d race_rounds_incomplete_until_next_run=%d\n", figures.raceRuns, figures.raceRoundsIncomplete)
	fmt.Printf("edits_overwritten=%d edit_runs=%d edit_events_dead_lettered_then_redriven=%d\n",
		figures.editsOverwritten, figures.editRuns, figures.editsDeadLettered)
	var paths []string
	for _, name := range sortedNames(figures.announcePaths) {
		p := figures.announcePaths[name]
		paths = append(paths, fmt.Sprintf("%s:%d(topic=%d,queue_only=%d,record_only=%d,retry_found_compliant=%d)",
			name, p.fixes, p.topic, p.queueOnly, p.recordOnly, p.retryCompliant))
	}
	fmt.Printf("fixes_unannounced=%d announce_runs=%d fixes_applied=%d announcements_duplicated=%d fixes_by_path=%s\n",
		figures.fixesUnannounced, figures.announceRuns, figures.announceFixes, figures.announceDuplicates, strings.Join(paths, ","))
	figures.Unlock()
	os.Exit(code)
}

// runs is how many seeded fault runs to make: RELIABILITY_RUNS, else a
// bounded default that keeps `make test` quick.
func runs(def int) int {
	if n, err := strconv.Atoi(os.Getenv("RELIABILITY_RUNS")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return max(def/4, 4)
	}
	return def
}

// world is one kumo behind one fault proxy, plus a direct KMS client that
// bypasses the proxy (to reset and inspect state).
type world struct {
	t      testing.TB
	kumo   *emulator.Kumo
	proxy  *emulator.FaultProxy
	direct *kms.Client
	// queue, when set, is the guards' ANNOUNCE_QUEUE_URL (announce suite).
	queue string
}

func newWorld(t testing.TB, seed *emulator.KumoSeed) *world {
	t.Helper()
	k := emulator.NewKumo(t, emulator.KumoOptions{Seed: seed})
	p, err := emulator.NewFaultProxy(emulator.FaultOptions{Target: k.URL, SlowDelay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("direct", "direct", "")}
	direct := kms.NewFromConfig(cfg, func(o *kms.Options) { o.BaseEndpoint = aws.String(k.URL) })
	return &world{t: t, kumo: k, proxy: p, direct: direct}
}

// policy returns the key policy as kumo stores it, read around the proxy.
func (w *world) policy(id string) []byte {
	w.t.Helper()
	out, err := w.direct.GetKeyPolicy(context.Background(), &kms.GetKeyPolicyInput{KeyId: aws.String(id), PolicyName: aws.String("default")})
	if err != nil {
		w.t.Fatalf("read key policy directly: %v", err)
	}
	return []byte(aws.ToString(out.Policy))
}

// setPolicy writes a key policy around the proxy (kumo stores any bytes).
func (w *world) setPolicy(id string, doc []byte) {
	w.t.Helper()
	if _, err := w.direct.PutKeyPolicy(context.Background(), &kms.PutKeyPolicyInput{KeyId: aws.String(id),
		PolicyName: aws.String("default"), Policy: aws.String(string(doc))}); err != nil {
		w.t.Fatalf("write key policy directly: %v", err)
	}
}

// edgeOptions are small retries and timeouts so a fault run takes well
// under a second or two, yet the SDK still retries once.
type edgeOptions struct {
	maxAttempts    int
	attemptTimeout time.Duration
}

var fastEdge = edgeOptions{maxAttempts: 2, attemptTimeout: 300 * time.Millisecond}

// guard builds the guard exactly as shared/function does, except that the
// edge's HTTP client dials this world's proxy and retries are bounded.
func (w *world) guard(mode string, log *slog.Logger, eo edgeOptions) (*guard.Guard, *awsedge.Edge) {
	w.t.Helper()
	settings, err := guard.SettingsFromEnv(func(k string) string {
		return map[string]string{"MODE": mode, "REQUIRED_SERVICE_PRINCIPALS": required, "ALERT_TOPIC_ARN": alertARN,
			"ANNOUNCE_QUEUE_URL": w.queue}[k]
	})
	if err != nil {
		w.t.Fatal(err)
	}
	addr := strings.TrimPrefix(w.proxy.URL, "http://")
	var d net.Dialer
	client := awshttp.NewBuildableClient().WithTimeout(eo.attemptTimeout).WithTransportOptions(func(tr *http.Transport) {
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}
	})
	edge, err := awsedge.Load(context.Background(), awsedge.Options{MaxAttempts: eo.maxAttempts, AttemptTimeout: eo.attemptTimeout, HTTPClient: client})
	if err != nil {
		w.t.Fatal(err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return function.Guard(settings, edge, log), edge
}

// entry is one of the three entry points.
type entry struct {
	name string
	fn   func(g *guard.Guard, ctx context.Context, raw []byte) (report.Report, error)
}

var (
	topicGuard = entry{"topic-guard", (*guard.Guard).HandleTopicEvent}
	keyGuard   = entry{"key-guard", (*guard.Guard).HandleKeyEvent}
	configRule = entry{"config-rule", (*guard.Guard).HandleConfigEvent}
)

// outcome of one invocation.
type outcome struct {
	rep      report.Report
	err      error
	panicked any
}

func invoke(g *guard.Guard, e entry, raw []byte) (o outcome) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			o.panicked = r
		}
	}()
	o.rep, o.err = e.fn(g, ctx, raw)
	return o
}

// Events, in the shape EventBridge delivers CloudTrail records, from a human
// administrator (never the guard's own role).
func cloudTrail(source, eventName, params, response string) []byte {
	return []byte(`{"version":"0","id":"` + eventName + `-reliability","detail-type":"AWS API Call via CloudTrail","source":"` + source +
		`","account":"` + acct + `","time":"2025-03-14T09:26:53Z","region":"us-east-1","resources":[],"detail":{"eventVersion":"1.09",` +
		`"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::` + acct + `:assumed-role/PlatformAdmin/jane","accountId":"` + acct +
		`","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::` + acct + `:role/PlatformAdmin"}}},` +
		`"eventTime":"2025-03-14T09:26:53Z","eventSource":"` + strings.TrimPrefix(source, "aws.") + `.amazonaws.com","eventName":"` + eventName +
		`","awsRegion":"us-east-1","requestParameters":` + params + `,"responseElements":` + response +
		`,"eventType":"AwsApiCall","recipientAccountId":"` + acct + `"}}`)
}

func createTopicEvent(arn string) []byte {
	name := arn[strings.LastIndex(arn, ":")+1:]
	return cloudTrail("aws.sns", "CreateTopic", `{"name":"`+name+`","attributes":{"KmsMasterKeyId":"alias/orders"}}`, `{"topicArn":"`+arn+`"}`)
}

// putKeyPolicyEvent carries the policy text, as CloudTrail does: the log
// suite checks that it never reaches an info log line.
func putKeyPolicyEvent(id string) []byte {
	p, _ := json.Marshal(originalPolicy)
	return cloudTrail("aws.kms", "PutKeyPolicy", `{"keyId":"`+id+`","policyName":"default","policy":`+string(p)+`,"bypassPolicyLockoutSafetyCheck":false}`, "null")
}

// sameStatement compares two statements by meaning (one-statement documents).
func sameStatement(a, b *policy.Statement) bool {
	da := &policy.Document{Version: "2012-10-17", Statements: []*policy.Statement{a}}
	db := &policy.Document{Version: "2012-10-17", Statements: []*policy.Statement{b}}
	return da.Equal(db)
}

// fixable returns the fixable findings rules still reports for a topic on a
// key policy (none once the fix is complete).
func fixable(topic, topicPol string, keyPolicy []byte, requiredPrincipals []string) []string {
	res := rules.Evaluate(rules.Input{
		Topic: rules.Topic{ARN: topic, KMSMasterKeyID: "alias/orders", Policy: []byte(topicPol)},
		Key: &rules.Key{ARN: keyARN, ID: keyID, Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT", Usage: "ENCRYPT_DECRYPT",
			State: "Enabled", Aliases: []string{"alias/orders"}, Policy: keyPolicy},
		Config: rules.Config{RequiredPrincipals: requiredPrincipals},
	})
	var out []string
	for _, f := range res.Findings {
		if f.Fixable {
			out = append(out, string(f.Code)+" "+f.Principal)
		}
	}
	return out
}

var requiredList = strings.Split(required, ",")

// alerted says whether the report shows an alert that reached SNS.
func alerted(rep report.Report) bool {
	for _, e := range rep.Evaluations {
		for _, a := range e.Actions {
			if a.Type == report.ActionAlert && a.Status == report.StatusApplied {
				return true
			}
		}
	}
	return false
}

func applied(rep report.Report) bool {
	for _, e := range rep.Evaluations {
		for _, a := range e.Actions {
			if a.Type == report.ActionPutKeyPolicy && a.Status == report.StatusApplied {
				return true
			}
		}
	}
	return false
}
