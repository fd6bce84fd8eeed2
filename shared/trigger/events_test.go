package trigger

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	demoAccount = "000000000000"
	ordersKey   = "arn:aws:kms:us-east-1:000000000000:key/11111111-2222-4333-8444-000000000001"
	alarmsKey   = "arn:aws:kms:us-east-1:000000000000:key/11111111-2222-4333-8444-000000000002"
	eventsKey   = "arn:aws:kms:us-east-1:000000000000:key/11111111-2222-4333-8444-000000000003"
	human       = "arn:aws:iam::000000000000:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_PlatformAdmin_0123456789abcdef"
	demoRule    = "arn:aws:config:us-east-1:000000000000:config-rule/config-rule-snskg01"
	demoToken   = "eyJlbmNyeXB0ZWREYXRhIjpbMTIsLTQ1LDg4XSwibWF0ZXJpYWxTZXRTZXJpYWxOdW1iZXIiOjEsIml2UGFyYW1ldGVyU3BlYyI6e319"
)

func topic(name string) string { return "arn:aws:sns:us-east-1:000000000000:" + name }

func eventID(n int) string {
	return "0c7f2e91-3b5a-4d6e-8f10-" + strings.Repeat("0", 10) + twoDigits(n)
}

func twoDigits(n int) string { return string(rune('0'+n/10)) + string(rune('0'+n%10)) }

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ct(kind Kind, source, name string, n int, actor string) Request {
	return Request{Kind: kind, Source: source, EventName: name, EventID: eventID(n),
		Account: demoAccount, Region: "us-east-1", Partition: "aws", Actor: actor}
}

func withTopic(r Request, t string) Request { r.TopicARN = t; return r }
func withKey(r Request, k string) Request   { r.KeyID = k; return r }
func withSkip(r Request, s string) Request  { r.Skip = s; return r }

// withPolicy sets the policy a PutKeyPolicy event carries (requestParameters.policy).
func withPolicy(r Request, p string) Request { r.Policy = p; return r }

// defaultKeyPolicy is the policy the sample PutKeyPolicy events write.
const defaultKeyPolicy = "{\n  \"Version\": \"2012-10-17\",\n  \"Id\": \"key-default-1\",\n  \"Statement\": [\n    {\n      \"Sid\": \"Enable IAM User Permissions\",\n      \"Effect\": \"Allow\",\n      \"Principal\": {\n        \"AWS\": \"arn:aws:iam::000000000000:root\"\n      },\n      \"Action\": \"kms:*\",\n      \"Resource\": \"*\"\n    }\n  ]\n}"

var demoParams = map[string]string{"requiredServicePrincipals": "cloudwatch.amazonaws.com,events.amazonaws.com"}

func cfgChange(name, at string, mod func(*ConfigInfo)) Request {
	ci := &ConfigInfo{ResultToken: demoToken, RuleName: "snskeyguard-sns-topic-cmk", RuleARN: demoRule,
		RuleParameters: demoParams, ResourceType: "AWS::SNS::Topic", ResourceID: topic(name), ResourceName: name,
		OrderingTimestamp: ts(at)}
	if mod != nil {
		mod(ci)
	}
	return Request{Kind: ConfigChange, Source: "aws.config", EventName: "ConfigurationItemChangeNotification",
		Account: demoAccount, Region: "us-east-1", Partition: "aws", TopicARN: topic(name), Config: ci}
}

// golden is the exact Request every file in events/ decodes to.
func golden() map[string]Request {
	sns, kms := "aws.sns", "aws.kms"
	topicGuard := "arn:aws:iam::000000000000:role/snskeyguard-topic-guard-us-east-1"
	keyGuard := "arn:aws:iam::000000000000:role/snskeyguard-key-guard-us-east-1"
	alias := ct(KeyChange, kms, "CreateAlias", 16, human)
	alias.Alias = "alias/alarms-key-v2"
	oversized := cfgChange("events-bus", "2025-03-14T11:15:02.904Z", func(c *ConfigInfo) { c.Oversized = true })
	oversized.EventName = "OversizedConfigurationItemChangeNotification"
	return map[string]Request{
		"topic-guard-CreateTopic-orders-compliant.json":               withTopic(ct(TopicChange, sns, "CreateTopic", 1, human), topic("orders")),
		"topic-guard-CreateTopic-audit-unencrypted.json":              withTopic(ct(TopicChange, sns, "CreateTopic", 2, human), topic("audit")),
		"topic-guard-CreateTopic-legacy-aws-managed.json":             withTopic(ct(TopicChange, sns, "CreateTopic", 3, human), topic("legacy")),
		"topic-guard-CreateTopic-events-bus-sourcearn-on-events.json": withTopic(ct(TopicChange, sns, "CreateTopic", 4, human), topic("events-bus")),
		"topic-guard-SetTopicAttributes-alarms-key.json":              withTopic(ct(TopicChange, sns, "SetTopicAttributes", 5, human), topic("alarms")),
		"topic-guard-SetTopicAttributes-audit-remove-encryption.json": withTopic(ct(TopicChange, sns, "SetTopicAttributes", 6, human), topic("audit")),
		"topic-guard-SetTopicAttributes-DisplayName-ignored.json":     withSkip(withTopic(ct(TopicChange, sns, "SetTopicAttributes", 7, human), topic("orders")), "SetTopicAttributes of DisplayName does not affect encryption"),
		"topic-guard-CreateTopic-failed.json":                         withSkip(ct(TopicChange, sns, "CreateTopic", 8, human), "failed API call: InvalidParameterException"),
		"topic-guard-SetTopicAttributes-by-guard.json":                withTopic(ct(TopicChange, sns, "SetTopicAttributes", 9, topicGuard), topic("audit")),
		"topic-guard-Subscribe-unrelated.json":                        withSkip(ct("", sns, "Subscribe", 10, human), "event Subscribe from aws.sns is not handled"),
		"key-guard-PutKeyPolicy-alarms-default.json":                  withPolicy(withKey(ct(KeyChange, kms, "PutKeyPolicy", 11, human), alarmsKey), defaultKeyPolicy),
		"key-guard-PutKeyPolicy-by-guard.json":                        withPolicy(withKey(ct(KeyChange, kms, "PutKeyPolicy", 12, keyGuard), alarmsKey), defaultKeyPolicy),
		"key-guard-PutKeyPolicy-failed.json":                          withSkip(ct(KeyChange, kms, "PutKeyPolicy", 13, human), "failed API call: MalformedPolicyDocumentException"),
		"key-guard-DisableKey-orders.json":                            withKey(ct(KeyChange, kms, "DisableKey", 14, human), ordersKey),
		"key-guard-ScheduleKeyDeletion-events.json":                   withKey(ct(KeyChange, kms, "ScheduleKeyDeletion", 15, human), eventsKey),
		"key-guard-CreateAlias-alarms.json":                           withKey(alias, alarmsKey),
		"config-rule-change-alarms.json":                              cfgChange("alarms", "2025-03-14T09:41:52.118Z", nil),
		"config-rule-oversized-events-bus.json":                       oversized,
		"config-rule-deleted-retired.json":                            cfgChange("retired", "2025-03-14T12:00:01.5Z", func(c *ConfigInfo) { c.Deleted = true }),
		"config-rule-testmode-orders.json":                            cfgChange("orders", "2025-03-14T09:41:52.118Z", func(c *ConfigInfo) { c.ResultToken, c.TestMode = "TESTMODE", true }),
		"config-rule-left-scope-orders.json":                          cfgChange("orders", "2025-03-14T09:41:52.118Z", func(c *ConfigInfo) { c.EventLeftScope = true }),
		"config-rule-scheduled.json": {Kind: ConfigSweep, Source: "aws.config", EventName: "ScheduledNotification",
			Account: demoAccount, Region: "us-east-1", Partition: "aws",
			Config: &ConfigInfo{ResultToken: demoToken, RuleName: "snskeyguard-sns-topic-cmk", RuleARN: demoRule,
				RuleParameters: demoParams, OrderingTimestamp: ts("2025-03-15T00:00:00.373Z")}},
	}
}

// decode picks the decoder the way the functions do: Config events go to
// config-rule, EventBridge events to the other two.
func decode(name string, raw []byte) (Request, error) {
	if strings.HasPrefix(name, "config-rule-") || strings.HasPrefix(name, "cfg-") {
		return DecodeConfig(raw)
	}
	return DecodeCloudTrail(raw)
}

func eventFiles(t testing.TB) []string {
	files, err := filepath.Glob("../../events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if filepath.Base(f) != "env.json" {
			out = append(out, f)
		}
	}
	return out
}

func TestSampleEvents(t *testing.T) {
	want := golden()
	files := eventFiles(t)
	if len(files) != len(want) {
		t.Errorf("events/ has %d sample events, the golden table %d", len(files), len(want))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("no golden Request for events/%s", name)
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decode(name, raw)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("got  %+v\nwant %+v", got, w)
				if got.Config != nil && w.Config != nil {
					t.Errorf("config got  %+v\nconfig want %+v", *got.Config, *w.Config)
				}
			}
			checkInvariants(t, got)
		})
	}
}

func TestSelfEvents(t *testing.T) {
	for file, role := range map[string]string{
		"topic-guard-SetTopicAttributes-by-guard.json": "arn:aws:sts::000000000000:assumed-role/snskeyguard-topic-guard-us-east-1/snskeyguard-topic-guard",
		"key-guard-PutKeyPolicy-by-guard.json":         "arn:aws:sts::000000000000:assumed-role/snskeyguard-key-guard-us-east-1/snskeyguard-key-guard",
	} {
		raw, err := os.ReadFile("../../events/" + file)
		if err != nil {
			t.Fatal(err)
		}
		r, err := DecodeCloudTrail(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !r.IsSelf(role) {
			t.Errorf("%s: IsSelf(%s) = false, want true", file, role)
		}
		if r.IsSelf("arn:aws:sts::000000000000:assumed-role/someone-else/x") {
			t.Errorf("%s: IsSelf(someone-else) = true", file)
		}
	}
}

// TestEnvJSON pins events/env.json: every function gets every setting of
// docs/DESIGN.md plus the endpoint and log level, with values that work against
// the emulators of `make run SERVE=1` from sam local invoke's container.
func TestEnvJSON(t *testing.T) {
	raw, err := os.ReadFile("../../events/env.json")
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]map[string]string
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"MODE": "alert", "REQUIRED_SERVICE_PRINCIPALS": "cloudwatch.amazonaws.com,events.amazonaws.com",
		"DISCOVER_SOURCES": "false", "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:000000000000:snskeyguard-alerts",
		"REMEDIATION_KEY_ID": "alias/orders-key", "EXEMPT_TAG_KEY": "snskeyguard:exempt",
		"CROSS_ACCOUNT_ROLE_NAME": "", "SECURITY_HUB": "false",
		// The template's dead-letter queue (kumo finds a queue by its URL's path).
		"ANNOUNCE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/snskeyguard-dead-letters",
		// sam local invoke runs the function in a container: the emulators of
		// `make run SERVE=1` are on the host, not on the container's 127.0.0.1.
		"AWS_ENDPOINT_URL": "http://host.docker.internal:4566", "LOG_LEVEL": "info",
	}
	for _, fn := range []string{"TopicGuardFunction", "KeyGuardFunction", "ConfigRuleFunction"} {
		if !reflect.DeepEqual(env[fn], want) {
			t.Errorf("%s: %v\nwant %v", fn, env[fn], want)
		}
	}
	if len(env) != 3 {
		t.Errorf("env.json has %d entries, want the 3 functions", len(env))
	}
}
