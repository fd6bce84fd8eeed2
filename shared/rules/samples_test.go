package rules_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// TestSamples pins the expected findings of the four sample key policies
// (testdata/kms-policy-0*.json), with cloudwatch, s3 and
// events required, as in the samples' own statements.
func TestSamples(t *testing.T) {
	const (
		cw = "cloudwatch.amazonaws.com"
		s3 = "s3.amazonaws.com"
		ev = "events.amazonaws.com"
	)
	tests := []struct {
		file       string
		compliance string
		want       []string // exact labels, sorted as Evaluate sorts them
		fixable    []bool
	}{
		{"kms-policy-01-default.json", rules.NonCompliant,
			[]string{"GRANT_MISSING " + cw, "GRANT_MISSING " + ev, "GRANT_MISSING " + s3}, []bool{true, true, true}},
		{"kms-policy-02-compliant-cloudwatch-s3-events.json", rules.Compliant, nil, nil},
		{"kms-policy-03-missing-confused-deputy-conditions.json", rules.NonCompliant,
			[]string{"CONFUSED_DEPUTY_MISSING " + cw, "CONFUSED_DEPUTY_MISSING " + s3}, []bool{true, true}},
		{"kms-policy-04-sourcearn-wrongly-on-events.json", rules.NonCompliant,
			[]string{"CONFUSED_DEPUTY_UNSUPPORTED " + ev}, []bool{true}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			pol, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			r := rules.Evaluate(rules.Input{
				Topic: rules.Topic{ARN: defTopicARN, KMSMasterKeyID: "alias/orders"},
				Key: &rules.Key{ARN: defKeyARN, Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT", Usage: "ENCRYPT_DECRYPT",
					State: "Enabled", Aliases: []string{"alias/orders"}, Policy: pol},
				Config: rules.Config{RequiredPrincipals: []string{cw, s3, ev}},
			})
			if r.Compliance != tt.compliance {
				t.Errorf("compliance = %s, want %s", r.Compliance, tt.compliance)
			}
			if len(r.Findings) != len(tt.want) {
				t.Fatalf("findings = %s, want %q", dump(r.Findings), tt.want)
			}
			for i, f := range r.Findings {
				if label(f) != tt.want[i] || f.Fixable != tt.fixable[i] || f.KeyARN != defKeyARN {
					t.Errorf("finding %d = %s fixable=%v keyArn=%s, want %s fixable=%v", i, label(f), f.Fixable, f.KeyARN, tt.want[i], tt.fixable[i])
				}
			}
			if r.Publishers != 3 {
				t.Errorf("publishers = %d, want 3", r.Publishers)
			}
		})
	}
}

func TestMergeGrants(t *testing.T) {
	got := rules.MergeGrants([]rules.Grant{
		{Principal: "s3.amazonaws.com", SourceAccounts: []string{"111122223333"}, SourceARNs: []string{"arn:aws:s3:::b"}},
		{Principal: " CloudWatch.amazonaws.com", SourceAccounts: []string{"111122223333"}, SourceARNs: []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:b*"}},
		{Principal: "cloudwatch.amazonaws.com", SourceAccounts: []string{"444455556666", "111122223333"}, SourceARNs: []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:a*"}},
		{Principal: "events.amazonaws.com"},
		{Principal: "s3.amazonaws.com", SourceAccounts: []string{"111122223333"}, SourceARNs: []string{"arn:aws:s3:::a", "arn:aws:s3:::b"}},
	})
	want := `[{"Principal":"cloudwatch.amazonaws.com","SourceAccounts":["111122223333","444455556666"],"SourceARNs":["arn:aws:cloudwatch:us-east-1:111122223333:alarm:a*","arn:aws:cloudwatch:us-east-1:111122223333:alarm:b*"]},` +
		`{"Principal":"events.amazonaws.com","SourceAccounts":null,"SourceARNs":null},` +
		`{"Principal":"s3.amazonaws.com","SourceAccounts":["111122223333"],"SourceARNs":["arn:aws:s3:::a","arn:aws:s3:::b"]}]`
	if g := compact(dump(got)); g != want {
		t.Errorf("MergeGrants = %s\nwant %s", g, want)
	}
	if g := rules.MergeGrants(nil); g == nil || len(g) != 0 {
		t.Errorf("MergeGrants(nil) = %#v, want empty", g)
	}
}
