package iamproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/policy"
)

// opSpec is how IAM authorizes one API operation: its action and the
// resources it names (from the request), or free when no permission is
// needed at all.
type opSpec struct {
	action    string
	free      bool
	resources func(p *Proxy, id *identity, c *call) ([]string, error)
	// via evaluates the calls the service makes on the caller's behalf
	// with the caller's permissions (SQS's use of a queue's KMS key).
	via func(p *Proxy, id *identity, c *call, resource string) *Denial
}

// star is the resource of actions that support no resource-level permission:
// the Service Authorization Reference lists no resource type for them, and a
// policy must name "*".
func star(*Proxy, *identity, *call) ([]string, error) { return []string{"*"}, nil }

func formARN(names ...string) func(*Proxy, *identity, *call) ([]string, error) {
	return func(_ *Proxy, _ *identity, c *call) ([]string, error) {
		for _, n := range names {
			if v := c.form.Get(n); v != "" {
				return []string{v}, nil
			}
		}
		return nil, fmt.Errorf("request names no %s", strings.Join(names, " or "))
	}
}

// operations are the calls the functions make, keyed by SigV4 signing name
// and operation (CloudWatch signs as "monitoring"), with their IAM action and
// resource. Sources, per service, the Service Authorization Reference
// (https://docs.aws.amazon.com/service-authorization/latest/reference/):
//   - list_awssecuritytokenservice.html; GetCallerIdentity needs no permission,
//     "No permissions are required to perform this operation":
//     https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
//   - list_amazonsns.html: topic actions on the topic ARN; ListTopics on "*".
//   - list_awskeymanagementservice.html, and "To specify a KMS key in an IAM
//     policy statement, you must use its key ARN ... For operations that don't
//     use any particular KMS key (ListAliases, ...) use *":
//     https://docs.aws.amazon.com/kms/latest/developerguide/cmks-in-iam-policies.html
//     An alias in a request is authorized on the key it names, never on the
//     alias: https://docs.aws.amazon.com/kms/latest/developerguide/alias-authorization.html
//   - list_amazoneventbridge.html: ListRules and ListEventBuses have no
//     resource type; ListTargetsByRule is on the rule ARN
//     (rule/<name> on the default bus, rule/<bus>/<name> on another).
//   - list_amazoncloudwatch.html: DescribeAlarms; the functions list every
//     alarm (composite ones only show with "*"), so "*".
//   - list_awsconfig.html: PutEvaluations, SelectResourceConfig,
//     BatchGetResourceConfig and GetResourceConfigHistory (the functions name
//     no rule) on "*".
//   - list_awssecurityhub.html: BatchImportFindings on the product ARN of
//     each finding.
var operations = map[string]opSpec{
	"sts:GetCallerIdentity": {free: true},
	"sts:AssumeRole":        {action: "sts:AssumeRole", resources: formARN("RoleArn")},

	"sns:GetTopicAttributes":  {action: "sns:GetTopicAttributes", resources: formARN("TopicArn")},
	"sns:SetTopicAttributes":  {action: "sns:SetTopicAttributes", resources: formARN("TopicArn")},
	"sns:ListTagsForResource": {action: "sns:ListTagsForResource", resources: formARN("ResourceArn")},
	"sns:Publish":             {action: "sns:Publish", resources: formARN("TopicArn", "TargetArn")},
	"sns:ListTopics":          {action: "sns:ListTopics", resources: star},

	"kms:DescribeKey":      {action: "kms:DescribeKey", resources: keyARN},
	"kms:GetKeyPolicy":     {action: "kms:GetKeyPolicy", resources: keyARN},
	"kms:PutKeyPolicy":     {action: "kms:PutKeyPolicy", resources: keyARN},
	"kms:ListResourceTags": {action: "kms:ListResourceTags", resources: keyARN},
	"kms:ListAliases":      {action: "kms:ListAliases", resources: star},

	"events:ListRules":         {action: "events:ListRules", resources: star},
	"events:ListEventBuses":    {action: "events:ListEventBuses", resources: star},
	"events:ListTargetsByRule": {action: "events:ListTargetsByRule", resources: ruleARN},

	"monitoring:DescribeAlarms": {action: "cloudwatch:DescribeAlarms", resources: star},

	"config:PutEvaluations":           {action: "config:PutEvaluations", resources: star},
	"config:SelectResourceConfig":     {action: "config:SelectResourceConfig", resources: star},
	"config:BatchGetResourceConfig":   {action: "config:BatchGetResourceConfig", resources: star},
	"config:GetResourceConfigHistory": {action: "config:GetResourceConfigHistory", resources: star},

	"securityhub:BatchImportFindings": {action: "securityhub:BatchImportFindings", resources: productARNs},

	// list_awslambda.html: Invoke is authorized as lambda:InvokeFunction on
	// the function ARN (the path names the function by name or ARN).
	"lambda:Invoke": {action: "lambda:InvokeFunction", resources: functionARN},
}

// functionARN is the ARN of the function a Lambda Invoke path names.
func functionARN(_ *Proxy, id *identity, c *call) ([]string, error) {
	name := strings.TrimSuffix(strings.TrimPrefix(c.path, "/2015-03-31/functions/"), "/invocations")
	if name, err := url.PathUnescape(name); err == nil && strings.HasPrefix(name, "arn:") {
		return []string{name}, nil
	}
	account, _ := policy.AccountOf(id.session)
	return []string{"arn:aws:lambda:" + c.region + ":" + account + ":function:" + name}, nil
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// keyARN is the ARN of the KMS key a request names by key id, key ARN, alias
// name or alias ARN. An alias is resolved through the emulator (as KMS
// resolves it before authorizing); "" when it names no key, so the emulator
// answers NotFound as KMS does.
func keyARN(p *Proxy, id *identity, c *call) ([]string, error) {
	k := str(c.body, "KeyId")
	switch {
	case k == "":
		return nil, fmt.Errorf("request names no KeyId")
	case strings.HasPrefix(k, "arn:") && strings.Contains(k, ":key/"):
		return []string{k}, nil
	case strings.HasPrefix(k, "alias/"), strings.HasPrefix(k, "arn:") && strings.Contains(k, ":alias/"):
		return []string{p.resolveAlias(k)}, nil
	}
	account, _ := policy.AccountOf(id.session)
	return []string{"arn:aws:kms:" + c.region + ":" + account + ":key/" + k}, nil
}

// resolveAlias asks the KMS emulator, as the harness, which key an alias names.
func (p *Proxy) resolveAlias(alias string) string {
	for _, name := range []string{alias, alias[strings.Index(alias, "alias/"):]} {
		body, _ := json.Marshal(map[string]string{"KeyId": name})
		req, err := http.NewRequest(http.MethodPost, p.target("kms")+"/", bytes.NewReader(body))
		if err != nil {
			return ""
		}
		key := "test"
		if len(p.opts.AdminKeys) > 0 {
			key = p.opts.AdminKeys[0]
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "TrentService.DescribeKey")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/20250101/"+p.opts.Deployment.Region+
			"/kms/aws4_request, SignedHeaders=host, Signature=0")
		resp, err := p.http.Do(req)
		if err != nil {
			return ""
		}
		var out struct{ KeyMetadata struct{ Arn string } }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK && out.KeyMetadata.Arn != "" {
			return out.KeyMetadata.Arn
		}
	}
	return ""
}

// ruleARN is the ARN of the rule ListTargetsByRule names.
func ruleARN(_ *Proxy, id *identity, c *call) ([]string, error) {
	rule := str(c.body, "Rule")
	if rule == "" {
		return nil, fmt.Errorf("request names no Rule")
	}
	account, _ := policy.AccountOf(id.session)
	bus := str(c.body, "EventBusName")
	if i := strings.LastIndex(bus, "/"); i >= 0 {
		bus = bus[i+1:]
	}
	if bus == "" || bus == "default" {
		return []string{"arn:aws:events:" + c.region + ":" + account + ":rule/" + rule}, nil
	}
	return []string{"arn:aws:events:" + c.region + ":" + account + ":rule/" + bus + "/" + rule}, nil
}

// productARNs are the product ARNs of the findings BatchImportFindings sends.
func productARNs(_ *Proxy, _ *identity, c *call) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	findings, _ := c.body["Findings"].([]any)
	for _, f := range findings {
		arn := str(policyObj(f), "ProductArn")
		if arn == "" {
			return nil, fmt.Errorf("a finding has no ProductArn")
		}
		if !seen[arn] {
			seen[arn] = true
			out = append(out, arn)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("request has no findings")
	}
	return out, nil
}

func policyObj(v any) map[string]any { m, _ := v.(map[string]any); return m }
