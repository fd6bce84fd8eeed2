package rules_test

import (
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// keyInput is a cloudwatch publisher on the default key, whose grant adds
// the given condition block to the confused-deputy conditions.
func keyInput(extra, version string) rules.Input {
	v := ""
	if version != "" {
		v = `"Version":"` + version + `",`
	}
	pol := `{` + v + `"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"CW","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",
		"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"},"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}` + extra + `}}]}`
	return rules.Input{
		Topic: rules.Topic{ARN: defTopicARN, KMSMasterKeyID: "alias/orders"},
		Key: &rules.Key{ARN: defKeyARN, Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT", Usage: "ENCRYPT_DECRYPT",
			State: "Enabled", Aliases: []string{"alias/orders"}, Policy: []byte(pol)},
		Config: rules.Config{RequiredPrincipals: []string{"cloudwatch.amazonaws.com"}},
	}
}

func labels(r rules.Result) string {
	var out []string
	for _, f := range r.Findings {
		l := label(f)
		if f.Uncertain {
			l += " (uncertain)"
		}
		if f.Fixable {
			l += " (fixable)"
		}
		out = append(out, l)
	}
	return strings.Join(out, "; ")
}

// TestKeyPropertiesInRequest: kms:KeyOrigin comes from DescribeKey; when it
// was not read, a grant that depends on it is uncertain, not missing.
func TestKeyPropertiesInRequest(t *testing.T) {
	for _, tc := range []struct {
		origin, want string
	}{
		{"AWS_KMS", ""},
		{"EXTERNAL", "GRANT_MISSING cloudwatch.amazonaws.com (fixable)"},
		{"", "GRANT_MISSING cloudwatch.amazonaws.com (uncertain)"},
	} {
		in := keyInput(`,"StringEqualsIgnoreCase":{"kms:KeyOrigin":"aws_kms"}`, "2012-10-17")
		in.Key.Origin = tc.origin
		if got := labels(rules.Evaluate(in)); got != tc.want {
			t.Errorf("origin %q: %q, want %q", tc.origin, got, tc.want)
		}
	}
	// Aliases: the key's own list; none means the multi-valued key is empty.
	in := keyInput(`,"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/ord*"}`, "2012-10-17")
	if got := labels(rules.Evaluate(in)); got != "" {
		t.Errorf("alias present: %q", got)
	}
	in.Key.Aliases = nil
	if got := labels(rules.Evaluate(in)); got != "ALIAS_REQUIRED; GRANT_MISSING cloudwatch.amazonaws.com (fixable)" {
		t.Errorf("no alias: %q", got)
	}
}

// TestVariablesFollowVersion: ${...} is a variable only in 2012-10-17 policies.
func TestVariablesFollowVersion(t *testing.T) {
	extra := `,"StringLike":{"kms:EncryptionContext:aws:sns:topicArn":"arn:aws:sns:*:${aws:ResourceAccount}:*"}`
	if got := labels(rules.Evaluate(keyInput(extra, "2012-10-17"))); got != "" {
		t.Errorf("2012-10-17: %q", got)
	}
	for _, v := range []string{"2008-10-17", ""} {
		if got := labels(rules.Evaluate(keyInput(extra, v))); got != "GRANT_MISSING cloudwatch.amazonaws.com (fixable)" {
			t.Errorf("version %q: %q", v, got)
		}
	}
}

// TestGrantVerdictFollowsVersion: the request-level verdict substitutes
// ${...} only in 2012-10-17 policies, like Evaluate. Without Version the
// deny's ARN pattern is literal text, matches no alarm, and does not apply.
func TestGrantVerdictFollowsVersion(t *testing.T) {
	const cw = "cloudwatch.amazonaws.com"
	stmts := `"Statement":[{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"},
		{"Effect":"Deny","Principal":"*","NotAction":"kms:Decrypt","Resource":"*",
		 "Condition":{"ArnEqualsIfExists":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:${aws:SourceAccount}:alarm:*"}}}]`
	for _, tc := range []struct {
		version string
		want    rules.Verdict
	}{
		{"", rules.VerdictAllowed},
		{`"Version":"2008-10-17",`, rules.VerdictAllowed},
		{`"Version":"2012-10-17",`, rules.VerdictDenied},
	} {
		doc, err := policy.Parse([]byte(`{` + tc.version + stmts + `}`))
		if err != nil {
			t.Fatal(err)
		}
		ctx := policy.NewContext()
		ctx.SetOthersAbsent()
		ctx.Set("aws:SourceAccount", "111122223333")
		ctx.Set("aws:SourceArn", "arn:aws:cloudwatch:us-east-1:111122223333:alarm:a")
		if got := rules.GrantVerdict(doc, defKeyARN, cw, ctx); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.version, got, tc.want)
		}
	}
}
