package template

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestStoredDataIsRetained: the key, the dead-letter queue and the log groups outlive the
// stack and a replacement (DeletionPolicy and UpdateReplacePolicy Retain): deleting the key
// would make every retained message and alert unreadable.
func TestStoredDataIsRetained(t *testing.T) {
	res := newStack(t, rawTemplate(t), nil).resources(t)
	var kept []string
	for _, id := range sortedKeys(res) {
		switch scalar(res[id]["Type"]) {
		case "AWS::KMS::Key", "AWS::SQS::Queue", "AWS::Logs::LogGroup":
			kept = append(kept, id)
			for _, k := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
				if res[id][k] != "Retain" {
					t.Errorf("%s %s = %v, want Retain", id, k, res[id][k])
				}
			}
		}
	}
	if want := []string{"AlertKey", "ConfigRuleLogGroup", "DeadLetterQueue", "KeyGuardLogGroup", "TopicGuardLogGroup"}; !slices.Equal(kept, want) {
		t.Errorf("retained resources %v, want %v", kept, want)
	}
}

// patterns holds, for each parameter that takes an ARN, an e-mail, account ids or ids of
// the organization, values its AllowedPattern must take and values it must refuse.
var patterns = map[string]struct{ good, bad []string }{
	"AlertTopicArn": {[]string{"", "arn:aws:sns:us-east-1:111122223333:ops-alerts", "arn:aws-us-gov:sns:us-gov-west-1:111122223333:a.fifo"},
		[]string{"ops-alerts", "arn:aws:sqs:us-east-1:111122223333:q", "arn:aws:sns:us-east-1:1111:ops", " arn:aws:sns:us-east-1:111122223333:a"}},
	"AlertTopicKeyArn": {[]string{"", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		[]string{"alias/x", "arn:aws:kms:us-east-1:111122223333:alias/x", "1234abcd-12ab-34cd-56ef-1234567890ab"}},
	"AlertEmail": {[]string{"", "secops@example.com", "a.b+c@sub.example.org"},
		[]string{"secops", "secops@example", "a b@example.com", "a@b.com,c@d.com "}},
	"RemediationKeyId": {[]string{"", "1234abcd-12ab-34cd-56ef-1234567890ab", "alias/sns-remediation", "mrk-1234abcd12ab34cd56ef1234567890ab",
		"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws:kms:us-east-1:111122223333:alias/sns"},
		[]string{"sns-remediation", "arn:aws:sns:us-east-1:111122223333:t", "alias/a'b"}},
	"ExcludedAccounts": {[]string{"", "111122223333", "111122223333,444455556666"},
		[]string{"1111", "111122223333,", "111122223333 444455556666"}},
	"OrganizationId":        {[]string{"", "o-a1b2c3d4e5"}, []string{"o-", "a1b2c3d4e5", "o-A1B2C3D4E5"}},
	"OrganizationalUnitIds": {[]string{"", "ou-ab12-cdef3456", "ou-ab12-cdef3456,r-ab12"}, []string{"ou-ab12", "ou-ab12-cdef3456,", "o-a1b2c3d4e5"}},
	"StackSetRegions":       {[]string{"", "us-east-1", "us-east-1,eu-west-1", "us-gov-west-1"}, []string{"us-east", "us-east-1,", "US-EAST-1"}},
	"CrossAccountRoleName":  {[]string{"", "snskeyguard-member", "a+=,.@_-b"}, []string{"role/x", strings.Repeat("r", 65)}},
}

// TestParametersRefuseMalformedValues: CloudFormation checks AllowedPattern before it
// creates anything, so a typo fails the deployment at once, with the ConstraintDescription.
func TestParametersRefuseMalformedValues(t *testing.T) {
	params := obj(rawTemplate(t)["Parameters"])
	for _, name := range sortedKeys(params) {
		p := obj(params[name])
		_, enum := p["AllowedValues"]
		if scalar(p["Type"]) == "Number" || enum {
			continue
		}
		pat, ok := p["AllowedPattern"].(string)
		if !ok || scalar(p["ConstraintDescription"]) == "" {
			t.Errorf("parameter %s has no AllowedPattern with a ConstraintDescription", name)
			continue
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			t.Errorf("parameter %s AllowedPattern %q: %v", name, pat, err)
			continue
		}
		if d := scalar(p["Default"]); !re.MatchString(d) {
			t.Errorf("parameter %s refuses its own default %q", name, d)
		}
		c, ok := patterns[name]
		if !ok {
			continue
		}
		for _, v := range c.good {
			if !re.MatchString(v) {
				t.Errorf("parameter %s refuses %q", name, v)
			}
		}
		for _, v := range c.bad {
			if re.MatchString(v) {
				t.Errorf("parameter %s accepts %q", name, v)
			}
		}
	}
	for name := range patterns {
		if _, ok := params[name]; !ok {
			t.Errorf("parameter %s missing", name)
		}
	}
}

// TestEventBridgeKeyGrantsAreScoped: the stack key lets EventBridge use it only for the
// dead-letter queue and the stack's own alert topic, named by the encryption context SQS and
// SNS put on each data key (EventBridge sends no aws:SourceArn to KMS for them), and the ARNs
// in those conditions are the ones the queue and topic get.
func TestEventBridgeKeyGrantsAreScoped(t *testing.T) {
	for _, topic := range []string{"", "arn:aws:sns:us-east-1:111122223333:ops-alerts"} {
		res := newStack(t, rawTemplate(t), map[string]string{"AlertTopicArn": topic}).resources(t)
		policy := obj(render(t, obj(res["AlertKey"]["Properties"])["KeyPolicy"]))
		queue := "arn:aws:sqs:us-east-1:111122223333:" + render(t, obj(res["DeadLetterQueue"]["Properties"])["QueueName"]).(string)
		want := map[string]string{"kms:EncryptionContext:aws:sqs:arn": queue}
		if topic == "" {
			want["kms:EncryptionContext:aws:sns:topicArn"] = "arn:aws:sns:us-east-1:111122223333:" + render(t, obj(res["AlertTopic"]["Properties"])["TopicName"]).(string)
		}
		got := map[string]string{}
		for _, st := range list(policy["Statement"]) {
			st := obj(st)
			if jsonOf(st["Principal"]) != `{"Service":"events.amazonaws.com"}` {
				continue
			}
			cond := obj(st["Condition"])
			if len(cond) != 1 || len(obj(cond["StringEquals"])) != 1 {
				t.Errorf("EventBridge statement %s: want exactly one StringEquals on an encryption context key", jsonOf(st))
				continue
			}
			for k, v := range obj(cond["StringEquals"]) {
				got[k] = scalar(v)
			}
		}
		if !maps.Equal(got, want) {
			t.Errorf("AlertTopicArn=%q: EventBridge grants %v, want %v", topic, got, want)
		}
	}
}

// TestExistingAlertTopicKey: an alert topic encrypted with another key is published to with
// that key's GenerateDataKey/Decrypt, through SNS only; without the parameter, no such grant.
func TestExistingAlertTopicKey(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, set := range []bool{false, true} {
		cfg := map[string]string{"AlertTopicArn": "arn:aws:sns:us-east-1:111122223333:ops-alerts"}
		if set {
			cfg["AlertTopicKeyArn"] = key
		}
		res := newStack(t, rawTemplate(t), cfg).resources(t)
		var found []string
		for _, role := range []string{"TopicGuardRole", "KeyGuardRole", "ConfigRuleRole"} {
			for _, st := range roleStatements(t, res, role) {
				if st.body["Resource"] == key {
					found = append(found, role)
					if got := jsonOf(st.body["Action"]); got != `["kms:GenerateDataKey","kms:Decrypt"]` {
						t.Errorf("%s: actions %s on the alert topic's key", st.from, got)
					}
				}
			}
		}
		if want := 3; set && len(found) != want || !set && len(found) != 0 {
			t.Errorf("AlertTopicKeyArn set=%v: roles granted the key %v", set, found)
		}
	}
}

// TestOneMemberRoleAcrossRegions: the member role is global, so only the stack with
// CreateMemberRole=true makes it, from its own region's instance, and a Rule refuses a
// deployment whose StackSetRegions leaves that region out.
func TestOneMemberRoleAcrossRegions(t *testing.T) {
	rule := func(cfg map[string]string) []string {
		s := orgStack(t, cfg)
		s.params["AWS::Region"] = "us-east-1"
		return ruleFailures(t, s)
	}
	for _, c := range []struct {
		cfg  map[string]string
		fail bool
	}{
		{map[string]string{}, false},
		{map[string]string{"StackSetRegions": "eu-west-1,us-east-1"}, false},
		{map[string]string{"StackSetRegions": "eu-west-1,ap-southeast-2"}, true},
		{map[string]string{"StackSetRegions": "eu-west-1", "CreateMemberRole": "false"}, false},
	} {
		got := rule(c.cfg)
		if failed := slices.ContainsFunc(got, func(d string) bool { return strings.HasPrefix(d, "StackSetRegions must include") }); failed != c.fail {
			t.Errorf("%v: rule failures %v, want the region rule to fail=%v", c.cfg, got, c.fail)
		}
	}
	// In account mode the rule does not apply.
	if got := ruleFailures(t, newStack(t, rawTemplate(t), map[string]string{"StackSetRegions": "eu-west-1"})); len(got) != 0 {
		t.Errorf("account mode: %v", got)
	}

	tpl, _ := memberTemplate(t)
	for _, create := range []string{"true", "false"} {
		p := obj(orgStack(t, map[string]string{"CreateMemberRole": create}).resources(t)["MemberStackSet"]["Properties"])
		var roleRegion any
		for _, kv := range list(p["Parameters"]) {
			if obj(kv)["ParameterKey"] == "RoleRegion" {
				roleRegion = obj(kv)["ParameterValue"]
			}
		}
		want := `{"Ref":"AWS::Region"}`
		if create == "false" {
			want = `"none"`
		}
		if jsonOf(roleRegion) != want {
			t.Errorf("CreateMemberRole=%s: RoleRegion %s, want %s", create, jsonOf(roleRegion), want)
			continue
		}
		values := memberValues("alert")
		if create == "false" {
			values["RoleRegion"] = "none"
		}
		made := 0
		for _, region := range []string{"us-east-1", "eu-west-1"} {
			if _, ok := memberStackWith(t, tpl, values, "222233334444", region)["GuardRole"]; ok {
				made++
			}
		}
		if wantMade := map[string]int{"true": 1, "false": 0}[create]; made != wantMade {
			t.Errorf("CreateMemberRole=%s: the member role is made in %d regions, want %d", create, made, wantMade)
		}
	}
}

// TestExcludedAccounts: accounts without the member role can be left out of the
// organization Config rule.
func TestExcludedAccounts(t *testing.T) {
	p := obj(orgStack(t, nil).resources(t)["OrganizationConfigRule"]["Properties"])
	if _, ok := p["ExcludedAccounts"]; ok {
		t.Errorf("ExcludedAccounts set without the parameter: %s", jsonOf(p["ExcludedAccounts"]))
	}
	p = obj(orgStack(t, map[string]string{"ExcludedAccounts": "111122223333,444455556666"}).resources(t)["OrganizationConfigRule"]["Properties"])
	if got := jsonOf(p["ExcludedAccounts"]); got != `{"Fn::Split":[",","111122223333,444455556666"]}` {
		t.Errorf("ExcludedAccounts %s", got)
	}
}
