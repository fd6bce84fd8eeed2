package template

import (
	"encoding/json"
	"regexp"
	"slices"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// The values a deployment in account 111122223333, us-east-1, stack "snskeyguard" would give.
var deployed = map[string]string{
	"AWS::Partition":                     "aws",
	"AWS::AccountId":                     "111122223333",
	"AWS::Region":                        "us-east-1",
	"AWS::StackName":                     "snskeyguard",
	"TopicGuardRole.Arn":                 "arn:aws:iam::111122223333:role/snskeyguard-topic-guard-us-east-1",
	"KeyGuardRole.Arn":                   "arn:aws:iam::111122223333:role/snskeyguard-key-guard-us-east-1",
	"ConfigRuleRole.Arn":                 "arn:aws:iam::111122223333:role/snskeyguard-config-rule-us-east-1",
	"AlertKey.Arn":                       "arn:aws:kms:us-east-1:111122223333:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
	"AlertTopic":                         "arn:aws:sns:us-east-1:111122223333:snskeyguard-alerts",
	"AlertKeyAlias":                      "alias/snskeyguard-alerts",
	"ConfigRuleFunction.Arn":             "arn:aws:lambda:us-east-1:111122223333:function:snskeyguard-config-rule",
	"TopicGuardFunction.Arn":             "arn:aws:lambda:us-east-1:111122223333:function:snskeyguard-topic-guard",
	"KeyGuardFunction.Arn":               "arn:aws:lambda:us-east-1:111122223333:function:snskeyguard-key-guard",
	"DeadLetterQueue.Arn":                "arn:aws:sqs:us-east-1:111122223333:snskeyguard-dead-letters",
	"TopicGuardLogGroup.Arn":             "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/snskeyguard-topic-guard:*",
	"KeyGuardLogGroup.Arn":               "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/snskeyguard-key-guard:*",
	"ConfigRuleLogGroup.Arn":             "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/snskeyguard-config-rule:*",
	"DeadLetterQueue":                    "https://sqs.us-east-1.amazonaws.com/111122223333/snskeyguard-dead-letters",
	"TopicGuardFunctionTopicChanges.Arn": "arn:aws:events:us-east-1:111122223333:rule/snskeyguard-TopicGuardFunctionTopicChanges-1",
	"KeyGuardFunctionKeyChanges.Arn":     "arn:aws:events:us-east-1:111122223333:rule/snskeyguard-KeyGuardFunctionKeyChanges-1",
}

// render replaces Ref, Fn::GetAtt and Fn::Sub by deployed values, as CloudFormation
// would; anything it cannot render fails the test.
func render(t *testing.T, v any) any {
	t.Helper()
	if r, ok := ref(v); ok {
		return lookup(t, r)
	}
	if id, attr, ok := getAtt(v); ok {
		return lookup(t, id+"."+attr)
	}
	if sub, ok := obj(v)["Fn::Sub"].(string); ok && len(obj(v)) == 1 {
		return regexp.MustCompile(`\$\{([^!}][^}]*)\}`).ReplaceAllStringFunc(sub, func(m string) string {
			return lookup(t, m[2:len(m)-1])
		})
	}
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = render(t, e)
		}
		return out
	case []any:
		out := []any{}
		for _, e := range x {
			out = append(out, render(t, e))
		}
		return out
	}
	return v
}

func lookup(t *testing.T, name string) string {
	t.Helper()
	v, ok := deployed[name]
	if !ok {
		t.Fatalf("no deployed value for %s", name)
	}
	return v
}

// defaultTopicPolicy is the access policy SNS gives a topic created without one,
// as the alert topic is.
const defaultTopicPolicy = `{"Version":"2008-10-17","Id":"__default_policy_ID","Statement":[{
 "Sid":"__default_statement_ID","Effect":"Allow","Principal":{"AWS":"*"},
 "Action":["SNS:GetTopicAttributes","SNS:SetTopicAttributes","SNS:AddPermission","SNS:RemovePermission",
  "SNS:DeleteTopic","SNS:Subscribe","SNS:ListSubscriptionsByTopic","SNS:Publish"],
 "Resource":"arn:aws:sns:us-east-1:111122223333:snskeyguard-alerts",
 "Condition":{"StringEquals":{"AWS:SourceOwner":"111122223333"}}}]}`

// TestAlertKeyPassesOurOwnChecks judges the stack's alert topic with the product's
// own rules, as the config-rule sweep will after deployment: CloudWatch alarms and
// EventBridge as publishers must find the key policy compliant.
func TestAlertKeyPassesOurOwnChecks(t *testing.T) {
	res := newStack(t, rawTemplate(t), nil).resources(t)
	policy, err := json.Marshal(render(t, obj(res["AlertKey"]["Properties"])["KeyPolicy"]))
	if err != nil {
		t.Fatal(err)
	}
	in := func(policy []byte) rules.Input {
		return rules.Input{
			Topic: rules.Topic{ARN: deployed["AlertTopic"], KMSMasterKeyID: deployed["AlertKey.Arn"], Policy: []byte(defaultTopicPolicy)},
			Key: &rules.Key{
				ARN: deployed["AlertKey.Arn"], ID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
				Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT", Usage: "ENCRYPT_DECRYPT", State: "Enabled",
				Aliases: []string{deployed["AlertKeyAlias"]}, Policy: policy, NamedAs: deployed["AlertKey.Arn"],
			},
			Discovered: []rules.Publisher{
				{Principal: "cloudwatch.amazonaws.com", SourceARN: "arn:aws:cloudwatch:us-east-1:111122223333:alarm:snskeyguard-dlq-not-empty"},
				{Principal: "events.amazonaws.com", SourceARN: "arn:aws:events:us-east-1:111122223333:rule/ops-to-alerts"},
			},
			Config: rules.Config{RequiredPrincipals: []string{"cloudwatch.amazonaws.com", "events.amazonaws.com"}},
		}
	}
	got := rules.Evaluate(in(policy))
	if got.Compliance != "COMPLIANT" || len(got.Findings) != 0 {
		t.Fatalf("alert key judged %s with findings %+v, want COMPLIANT and none", got.Compliance, got.Findings)
	}
	// The same judgement must notice a weakened policy, or the check above proves nothing.
	var doc map[string]any
	_ = json.Unmarshal(policy, &doc)
	for _, st := range list(doc["Statement"]) {
		if obj(st)["Sid"] == "AllowCloudWatchAlarms" {
			delete(obj(obj(st)["Condition"]), "ArnLike")
		}
	}
	weak, _ := json.Marshal(doc)
	got = rules.Evaluate(in(weak))
	var codes []string
	for _, f := range got.Findings {
		codes = append(codes, string(f.Code))
	}
	if got.Compliance != "NON_COMPLIANT" || !slices.Equal(codes, []string{"CONFUSED_DEPUTY_MISSING"}) {
		t.Errorf("weakened alert key judged %s %v, want NON_COMPLIANT [CONFUSED_DEPUTY_MISSING]", got.Compliance, codes)
	}
}
