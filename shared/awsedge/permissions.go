package awsedge

import (
	"slices"
	"sort"
)

// Permission is one AWS API call this package makes, the exported method that
// makes it, and the IAM action AWS authorizes it with. The list is the
// product's own statement of what its roles must grant: template tests derive
// each role's permissions from it, and a test of this package parses its
// source and fails when a call is missing here or listed under the wrong method.
type Permission struct {
	Method string // exported method of Account or Edge ("GetTopic")
	Call   string // "Service.Operation" as Calls counts it ("SNS.GetTopicAttributes")
	Action string // IAM action; "" when AWS authorizes the call without one
}

// Permissions lists every AWS call, by method. Action names come from the
// Service Authorization Reference
// (https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html):
// each API operation listed there is authorized by the action of the same
// name; sts:GetCallerIdentity needs no permission ("No permissions are
// required to perform this operation", STS API reference,
// https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
var Permissions = []Permission{
	{"GetTopic", "SNS.GetTopicAttributes", "sns:GetTopicAttributes"},
	{"TopicTags", "SNS.ListTagsForResource", "sns:ListTagsForResource"},
	{"ListTopics", "SNS.ListTopics", "sns:ListTopics"},
	{"SetTopicKey", "SNS.SetTopicAttributes", "sns:SetTopicAttributes"},
	{"Publish", "SNS.Publish", "sns:Publish"},
	// An announcement the alert topic did not take is kept in a queue.
	{"Enqueue", "SQS.SendMessage", "sqs:SendMessage"},
	{"DescribeKey", "KMS.DescribeKey", "kms:DescribeKey"},
	{"KeyPolicy", "KMS.GetKeyPolicy", "kms:GetKeyPolicy"},
	{"PutKeyPolicy", "KMS.PutKeyPolicy", "kms:PutKeyPolicy"},
	{"KeyAliases", "KMS.ListAliases", "kms:ListAliases"},
	{"KeyTags", "KMS.ListResourceTags", "kms:ListResourceTags"},
	{"AlarmTopics", "CloudWatch.DescribeAlarms", "cloudwatch:DescribeAlarms"},
	// Source discovery reads every bus, then each bus's rules and their targets.
	{"RuleTopics", "EventBridge.ListEventBuses", "events:ListEventBuses"},
	{"RuleTopics", "EventBridge.ListRules", "events:ListRules"},
	{"RuleTopics", "EventBridge.ListTargetsByRule", "events:ListTargetsByRule"},
	{"PutEvaluations", "ConfigService.PutEvaluations", "config:PutEvaluations"},
	{"SelectResources", "ConfigService.SelectResourceConfig", "config:SelectResourceConfig"},
	{"SelectTopicsByKey", "ConfigService.SelectResourceConfig", "config:SelectResourceConfig"},
	// The sweep pages through recorded topics, then reads each page's items.
	{"RecordedTopics", "ConfigService.SelectResourceConfig", "config:SelectResourceConfig"},
	{"RecordedTopics", "ConfigService.BatchGetResourceConfig", "config:BatchGetResourceConfig"},
	{"ImportFindings", "SecurityHub.BatchImportFindings", "securityhub:BatchImportFindings"},
	{"Identity", "STS.GetCallerIdentity", ""},
	// A sweep short of time continues in a new invocation of its own function.
	{"InvokeAsync", "Lambda.Invoke", "lambda:InvokeFunction"},
	// Clients for another account assume CROSS_ACCOUNT_ROLE_NAME there.
	{"Account", "STS.AssumeRole", "sts:AssumeRole"},
	{"AccountIn", "STS.AssumeRole", "sts:AssumeRole"},
}

// Actions returns the IAM actions the given methods need, sorted, without
// duplicates. A method this package does not have is returned as "?<name>",
// so a caller comparing sets sees the mistake instead of a silent gap.
func Actions(methods ...string) []string {
	var out []string
	for _, m := range methods {
		found := false
		for _, p := range Permissions {
			if p.Method == m {
				found = true
				if p.Action != "" {
					out = append(out, p.Action)
				}
			}
		}
		if !found {
			out = append(out, "?"+m)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}
