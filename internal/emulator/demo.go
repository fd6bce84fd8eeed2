package emulator

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// The demo account of events/README.md. Key ids are fixed because the sample
// events name them; kumo's API cannot choose a key id, so the keys come from
// its data directory (DemoKumoSeed) and everything else from the SDK.
const (
	DemoOrdersKeyID = "11111111-2222-4333-8444-000000000001"
	DemoAlarmsKeyID = "11111111-2222-4333-8444-000000000002"
	DemoEventsKeyID = "11111111-2222-4333-8444-000000000003"
	DemoAWSSNSKeyID = "11111111-2222-4333-8444-000000000004"
	DemoAlertsKeyID = "11111111-2222-4333-8444-000000000005"

	DemoAlertTopic = "snskeyguard-alerts"
	// DemoAlertQueue receives every alert (SNS→SQS, delivered at once by kumo).
	DemoAlertQueue = "snskeyguard-alerts-inbox"
	// DemoDeadLetterQueue is template.yaml's DeadLetterQueue, encrypted with
	// the alert key: ANNOUNCE_QUEUE_URL of the functions (events/env.json).
	DemoDeadLetterQueue = "snskeyguard-dead-letters"
)

// DemoTopics are the product topics of the demo, in the order of
// events/README.md; the alert topic comes on top.
var DemoTopics = []string{"orders", "alarms", "events-bus", "audit", "legacy"}

// demoKeyPolicy returns a key policy of the demo: samples 01, 02 and 04 of
// shared/rules/testdata with account 111122223333 rewritten to kumo's, and the
// template's alert-key policy with its roles filled in.
func demoKeyPolicy(id string) string {
	switch id {
	case DemoOrdersKeyID:
		return strings.ReplaceAll(samplePolicy02, "111122223333", KumoAccount)
	case DemoAlarmsKeyID:
		return strings.ReplaceAll(samplePolicy01, "111122223333", KumoAccount)
	case DemoEventsKeyID:
		return strings.ReplaceAll(samplePolicy04, "111122223333", KumoAccount)
	case DemoAlertsKeyID:
		return alertKeyPolicy
	}
	return ""
}

// DemoKumoSeed is the part of the demo kumo must load at start: the keys with
// their fixed ids, aliases and policies, and the AWS-managed key behind
// alias/aws/sns that kumo does not create by itself.
func DemoKumoSeed() *KumoSeed {
	key := func(id, alias, desc string) SeedKey {
		return SeedKey{ID: id, Aliases: []string{alias}, Description: desc, Policy: demoKeyPolicy(id)}
	}
	return &KumoSeed{Keys: []SeedKey{
		key(DemoOrdersKeyID, "alias/orders-key", "orders topic (compliant: sample 02)"),
		key(DemoAlarmsKeyID, "alias/alarms-key", "alarms topic (default key policy: sample 01)"),
		key(DemoEventsKeyID, "alias/events-key", "events-bus topic (aws:SourceArn on EventBridge: sample 04)"),
		AWSManagedSNSKey(DemoAWSSNSKeyID),
		key(DemoAlertsKeyID, "alias/snskeyguard-alerts", "alert topic (template.yaml AlertKey)"),
	}}
}

// Demo is the demo account, as created, and SDK clients to read its state back.
type Demo struct {
	// Topics maps a topic name (DemoTopics and DemoAlertTopic) to its ARN.
	Topics map[string]string
	// Keys maps each key's ARN to its alias (alias/aws/sns for the AWS key).
	Keys          map[string]string
	AlertTopicARN string
	AlertQueueURL string
	// DeadLetterQueueURL is the dead-letter queue as kumo names it.
	DeadLetterQueueURL string
	// Policies are the key policies as seeded, by key ARN (customer keys).
	Policies map[string][]byte
	// TopicKeys are the topics' KmsMasterKeyId as seeded, by topic ARN.
	TopicKeys map[string]string

	KMS *kms.Client
	SNS *sns.Client
	SQS *sqs.Client
}

// DemoKeyARN is the ARN of a demo key id.
func DemoKeyARN(id string) string {
	return "arn:aws:kms:" + KumoRegion + ":" + KumoAccount + ":key/" + id
}

// DemoTopicARN is the ARN of a demo topic.
func DemoTopicARN(name string) string {
	return "arn:aws:sns:" + KumoRegion + ":" + KumoAccount + ":" + name
}

// topicPolicy is AWS's default topic policy (the owner may do everything)
// plus one statement per publishing service, as a console user would add it;
// the guard reads these to learn who publishes.
func topicPolicy(name string, services ...[3]string) string {
	arn := DemoTopicARN(name)
	st := []map[string]any{{
		"Sid": "__default_statement_ID", "Effect": "Allow", "Principal": map[string]any{"AWS": "*"},
		"Action": []string{"SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
			"SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"},
		"Resource":  arn,
		"Condition": map[string]any{"StringEquals": map[string]any{"AWS:SourceOwner": KumoAccount}},
	}}
	for _, s := range services { // {sid, principal, source ARN pattern}
		st = append(st, map[string]any{
			"Sid": s[0], "Effect": "Allow", "Principal": map[string]any{"Service": s[1]},
			"Action": "sns:Publish", "Resource": arn,
			"Condition": map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": KumoAccount},
				"ArnLike": map[string]any{"aws:SourceArn": s[2]}},
		})
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Id": "__default_policy_ID", "Statement": st})
	return string(b)
}

// demoTopic is one topic SeedDemo creates.
type demoTopic struct {
	name, key, policy string
}

func demoTopicList() []demoTopic {
	return []demoTopic{
		{"orders", "alias/orders-key", topicPolicy("orders",
			[3]string{"AllowS3OrdersIngest", "s3.amazonaws.com", "arn:aws:s3:::orders-ingest-*"})},
		{"alarms", "alias/alarms-key", topicPolicy("alarms",
			[3]string{"AllowCloudWatchAlarms", "cloudwatch.amazonaws.com", "arn:aws:cloudwatch:us-east-1:" + KumoAccount + ":alarm:*"})},
		{"events-bus", "alias/events-key", topicPolicy("events-bus",
			[3]string{"AllowEventBridgeRules", "events.amazonaws.com", "arn:aws:events:us-east-1:" + KumoAccount + ":rule/*"})},
		{"audit", "", topicPolicy("audit")},
		{"legacy", "alias/aws/sns", topicPolicy("legacy")},
		{DemoAlertTopic, "alias/snskeyguard-alerts", topicPolicy(DemoAlertTopic,
			[3]string{"AllowCloudWatchAlarms", "cloudwatch.amazonaws.com", "arn:aws:cloudwatch:us-east-1:" + KumoAccount + ":alarm:*"})},
	}
}

// StartDemo starts a stack whose kumo holds DemoKumoSeed (opts.Kumo.Seed is
// replaced) and seeds the rest of the demo. On error nothing is left running.
func StartDemo(ctx context.Context, opts StackOptions) (*Stack, *Demo, error) {
	opts.Kumo.Seed = DemoKumoSeed()
	s, err := StartStack(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	d, err := SeedDemo(ctx, s)
	if err != nil {
		return nil, nil, errors.Join(err, s.Close())
	}
	return s, d, nil
}

// NewDemo is StartDemo for a test: a fresh kumo data directory, stopped when
// the test ends.
func NewDemo(t testing.TB) (*Stack, *Demo) {
	t.Helper()
	RequireBinary(t, KumoBinary)
	s, d, err := StartDemo(t.Context(), StackOptions{})
	if err != nil {
		t.Fatalf("start demo: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stop emulators: %v", err)
		}
	})
	return s, d
}

// DemoClients returns SDK clients pointed at the stack (KMS at local-kms when
// the stack runs it).
func DemoClients(s *Stack) (*kms.Client, *sns.Client, *sqs.Client) {
	// No retries behind the caller's back: every failure surfaces (Alerts
	// retries itself, safely).
	cfg := aws.Config{Region: KumoRegion, Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(s.Kumo.URL), Retryer: func() aws.Retryer { return aws.NopRetryer{} }}
	kcfg := cfg.Copy()
	if s.KMS != nil {
		kcfg.BaseEndpoint = aws.String(s.KMS.URL)
	}
	return kms.NewFromConfig(kcfg), sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
}

// SeedDemo creates, through the SDK, the demo topics with their keys and
// topic policies, the alert topic and a queue subscribed to it, and checks
// that the keys of DemoKumoSeed are there with their policies. It expects a
// stack started with DemoKumoSeed (StartDemo does that).
func SeedDemo(ctx context.Context, s *Stack) (*Demo, error) {
	if s.KMS != nil {
		return nil, errors.New("seed demo: the demo keys live in kumo; start the stack without local-kms")
	}
	d := &Demo{Topics: map[string]string{}, Keys: map[string]string{}, Policies: map[string][]byte{}, TopicKeys: map[string]string{}}
	d.KMS, d.SNS, d.SQS = DemoClients(s)
	for _, k := range DemoKumoSeed().Keys {
		arn := DemoKeyARN(k.ID)
		out, err := d.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(k.Aliases[0])})
		if err != nil {
			return nil, fmt.Errorf("seed demo: describe key (%s): %w (was kumo started with DemoKumoSeed?)", k.Aliases[0], err)
		}
		if got := aws.ToString(out.KeyMetadata.Arn); got != arn {
			return nil, fmt.Errorf("seed demo: %s names %s, want %s", k.Aliases[0], got, arn)
		}
		d.Keys[arn] = k.Aliases[0]
		if k.Manager == "AWS" {
			continue
		}
		pol, err := d.KMS.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(arn), PolicyName: aws.String("default")})
		if err != nil {
			return nil, fmt.Errorf("seed demo: get key policy (%s): %w", arn, err)
		}
		if aws.ToString(pol.Policy) != k.Policy {
			return nil, fmt.Errorf("seed demo: key %s holds another policy than seeded", arn)
		}
		d.Policies[arn] = []byte(k.Policy)
	}
	for _, t := range demoTopicList() {
		attrs := map[string]string{"Policy": t.policy, "DisplayName": t.name}
		if t.key != "" {
			attrs["KmsMasterKeyId"] = t.key
		}
		out, err := d.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(t.name), Attributes: attrs})
		if err != nil {
			return nil, fmt.Errorf("seed demo: create topic (%s): %w", t.name, err)
		}
		arn := aws.ToString(out.TopicArn)
		if arn != DemoTopicARN(t.name) {
			return nil, fmt.Errorf("seed demo: topic %s has ARN %s, want %s", t.name, arn, DemoTopicARN(t.name))
		}
		d.Topics[t.name] = arn
		d.TopicKeys[arn] = t.key
	}
	d.AlertTopicARN = d.Topics[DemoAlertTopic]
	// Visibility timeout 0: a received message stays visible until deleted,
	// so a ReceiveMessage whose answer is lost hides nothing from the next.
	q, err := d.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(DemoAlertQueue),
		Attributes: map[string]string{string(sqstypes.QueueAttributeNameVisibilityTimeout): "0"}})
	if err != nil {
		return nil, fmt.Errorf("seed demo: create queue: %w", err)
	}
	d.AlertQueueURL = aws.ToString(q.QueueUrl)
	qa, err := d.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return nil, fmt.Errorf("seed demo: queue ARN: %w", err)
	}
	if _, err := d.SNS.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(d.AlertTopicARN), Protocol: aws.String("sqs"),
		Endpoint: aws.String(qa.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}); err != nil {
		return nil, fmt.Errorf("seed demo: subscribe alert queue: %w", err)
	}
	dl, err := d.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(DemoDeadLetterQueue),
		Attributes: map[string]string{string(sqstypes.QueueAttributeNameVisibilityTimeout): "0",
			string(sqstypes.QueueAttributeNameKmsMasterKeyId): DemoKeyARN(DemoAlertsKeyID)}})
	if err != nil {
		return nil, fmt.Errorf("seed demo: create dead-letter queue: %w", err)
	}
	d.DeadLetterQueueURL = aws.ToString(dl.QueueUrl)
	return d, nil
}

// KeyPolicies reads the current policy of every customer-managed demo key,
// by key ARN, as stored (bytes unchanged).
func (d *Demo) KeyPolicies(ctx context.Context) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, arn := range slices.Sorted(maps.Keys(d.Policies)) {
		p, err := d.KMS.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(arn), PolicyName: aws.String("default")})
		if err != nil {
			return nil, fmt.Errorf("get key policy (%s): %w", arn, err)
		}
		out[arn] = []byte(aws.ToString(p.Policy))
	}
	return out, nil
}

// CurrentTopicKeys reads every demo topic's KmsMasterKeyId ("" when
// unencrypted), by topic ARN.
func (d *Demo) CurrentTopicKeys(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	for _, arn := range slices.Sorted(maps.Values(d.Topics)) {
		a, err := d.SNS.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
		if err != nil {
			return nil, fmt.Errorf("get topic attributes (%s): %w", arn, err)
		}
		out[arn] = a.Attributes["KmsMasterKeyId"]
	}
	return out, nil
}

// AlertMessage is one alert as the subscribed queue received it (SNS's
// envelope, RawMessageDelivery off).
type AlertMessage struct {
	TopicARN   string
	Subject    string
	Message    string
	Attributes map[string]string
}

// Alerts receives and deletes every message waiting in the alert queue, in
// arrival order. kumo delivers at publish time, so after an invocation
// returns its alerts are already there.
func (d *Demo) Alerts(ctx context.Context) ([]AlertMessage, error) {
	var out []AlertMessage
	for {
		var r *sqs.ReceiveMessageOutput
		var err error
		// Seen here under load, rarely: a ReceiveMessage answer cut short
		// ("use of closed network connection" while reading the body). The
		// queue's visibility timeout of 0 makes a second try see the same
		// messages, so retrying is safe.
		for attempt := 0; attempt < 3; attempt++ {
			r, err = d.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(d.AlertQueueURL),
				MaxNumberOfMessages: 10, WaitTimeSeconds: 0})
			if err == nil || ctx.Err() != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			return nil, fmt.Errorf("receive alerts: %w", err)
		}
		if len(r.Messages) == 0 {
			return out, nil
		}
		for _, m := range r.Messages {
			var env struct {
				TopicArn          string
				Subject           string
				Message           string
				MessageAttributes map[string]struct{ Type, Value string }
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
				return nil, fmt.Errorf("alert is not an SNS envelope: %w: %s", err, aws.ToString(m.Body))
			}
			a := AlertMessage{TopicARN: env.TopicArn, Subject: env.Subject, Message: env.Message, Attributes: map[string]string{}}
			for k, v := range env.MessageAttributes {
				a.Attributes[k] = v.Value
			}
			out = append(out, a)
			if _, err := d.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(d.AlertQueueURL),
				ReceiptHandle: m.ReceiptHandle}); err != nil {
				return nil, fmt.Errorf("delete alert: %w", err)
			}
		}
	}
}

// Samples 01, 02 and 04 of shared/rules/testdata, kept as the sample files
// themselves (TestDemoSamples holds them to the rules package's copies)
// rather than as Go strings that could drift from them unnoticed.
var (
	//go:embed testdata/demo/kms-policy-01-default.json
	samplePolicy01 string
	//go:embed testdata/demo/kms-policy-02-compliant-cloudwatch-s3-events.json
	samplePolicy02 string
	//go:embed testdata/demo/kms-policy-04-sourcearn-wrongly-on-events.json
	samplePolicy04 string
)

// alertKeyPolicy is template.yaml's AlertKey policy for the demo account and
// the roles of the three functions (stack name snskeyguard).
const alertKeyPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "EnableIAMPolicies",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
      "Action": "kms:*",
      "Resource": "*"
    },
    {
      "Sid": "AllowGuardFunctionsThroughSNSAndSQS",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
      "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
      "Resource": "*",
      "Condition": {
        "ArnEquals": {"aws:PrincipalArn": [
          "arn:aws:iam::000000000000:role/snskeyguard-topic-guard-us-east-1",
          "arn:aws:iam::000000000000:role/snskeyguard-key-guard-us-east-1",
          "arn:aws:iam::000000000000:role/snskeyguard-config-rule-us-east-1"
        ]},
        "StringEquals": {"kms:ViaService": ["sns.us-east-1.amazonaws.com", "sqs.us-east-1.amazonaws.com"]}
      }
    },
    {
      "Sid": "AllowCloudWatchAlarms",
      "Effect": "Allow",
      "Principal": {"Service": "cloudwatch.amazonaws.com"},
      "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
      "Resource": "*",
      "Condition": {
        "StringEquals": {"aws:SourceAccount": "000000000000"},
        "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:*"}
      }
    },
    {
      "Sid": "AllowEventBridgeDeadLetters",
      "Effect": "Allow",
      "Principal": {"Service": "events.amazonaws.com"},
      "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
      "Resource": "*",
      "Condition": {"StringEquals": {"kms:EncryptionContext:aws:sqs:arn": "arn:aws:sqs:us-east-1:000000000000:snskeyguard-dead-letters"}}
    },
    {
      "Sid": "AllowEventBridgeToAlertTopic",
      "Effect": "Allow",
      "Principal": {"Service": "events.amazonaws.com"},
      "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
      "Resource": "*",
      "Condition": {"StringEquals": {"kms:EncryptionContext:aws:sns:topicArn": "arn:aws:sns:us-east-1:000000000000:snskeyguard-alerts"}}
    }
  ]
}
`
