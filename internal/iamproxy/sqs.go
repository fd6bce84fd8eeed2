package iamproxy

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/snskeyguard/snskeyguard/internal/cfn"
	"github.com/snskeyguard/snskeyguard/shared/policy"
)

// SQS: the SDK (aws-sdk-go-v2 service/sqs since v1.29) speaks awsJson1_0
// (X-Amz-Target AmazonSQS.<Op>, QueueUrl in the body); older clients send
// the query protocol (Action=<Op>&QueueUrl=...). SendMessage is authorized
// as sqs:SendMessage on the queue's ARN
// (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsqs.html).
// A queue encrypted with a customer managed KMS key also needs the sender's
// kms:GenerateDataKey and kms:Decrypt on that key, which SQS asks KMS for on
// the sender's behalf (kms:ViaService sqs.<region>.amazonaws.com): "Configure
// AWS KMS permissions for producers",
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html;
// SQS then answers KMS.AccessDeniedException naming kms:GenerateDataKey
// (https://repost.aws/knowledge-center/sqs-accessdenied-errors).
func init() {
	operations["sqs:SendMessage"] = opSpec{action: "sqs:SendMessage", resources: queueARN, via: queueKeyUse}
}

// queueARN is the ARN of the queue a request's QueueUrl names:
// https://sqs.<region>.amazonaws.com/<account>/<name> is
// arn:aws:sqs:<region>:<account>:<name>; an emulator's host names no
// Region, so the request's signing Region stands in.
func queueARN(_ *Proxy, _ *identity, c *call) ([]string, error) {
	raw := str(c.body, "QueueUrl")
	if raw == "" && c.form != nil {
		raw = c.form.Get("QueueUrl")
	}
	u, err := url.Parse(raw)
	if raw == "" || err != nil {
		return nil, fmt.Errorf("request names no QueueUrl")
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("QueueUrl %q names no /<account>/<queue>", raw)
	}
	region := c.region
	if h := strings.Split(u.Hostname(), "."); len(h) >= 4 && h[0] == "sqs" && h[2] == "amazonaws" {
		region = h[1]
	}
	return []string{"arn:aws:sqs:" + region + ":" + parts[0] + ":" + parts[1]}, nil
}

// queueKeyUse evaluates what SQS asks KMS for on the caller's behalf when
// the queue is one the template encrypts with a customer managed key.
func queueKeyUse(p *Proxy, id *identity, c *call, queue string) *Denial {
	key := queueKey(id.central, queue)
	if strings.HasPrefix(key, "alias/") || strings.Contains(key, ":alias/") {
		key = p.resolveAlias(key)
	}
	if key == "" {
		return nil
	}
	account, _ := policy.AccountOf(id.session)
	region := strings.Split(queue, ":")[3]
	for _, action := range []string{"kms:GenerateDataKey", "kms:Decrypt"} {
		ctx := p.context(id, c, key)
		ctx.Set("kms:CallerAccount", account)
		ctx.Set("kms:ViaService", "sqs."+region+".amazonaws.com")
		ctx.Set("kms:EncryptionContext:aws:sqs:arn", queue)
		if d := evaluate(id, action, key, ctx); d != nil {
			return d
		}
	}
	return nil
}

// queueKey is the KMS key (ARN or alias) the template encrypts the queue
// with; "" when the queue is not the template's or is not encrypted with a
// customer managed key (the AWS managed alias/aws/sqs needs no grant).
func queueKey(st *cfn.Stack, queue string) string {
	if st == nil {
		return ""
	}
	for id := range cfn.Obj(st.Template["Resources"]) {
		res, ok := st.Resource(id)
		if !ok || cfn.Scalar(res["Type"]) != "AWS::SQS::Queue" {
			continue
		}
		arn, _ := st.Eval(map[string]any{"Fn::GetAtt": []any{id, "Arn"}})
		if cfn.Scalar(arn) != queue {
			continue
		}
		key := cfn.Scalar(cfn.Obj(res["Properties"])["KmsMasterKeyId"])
		if key == "" || strings.HasSuffix(key, "alias/aws/sqs") {
			return ""
		}
		return key
	}
	return ""
}
