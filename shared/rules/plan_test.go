package rules_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/plan"
	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// TestFixRoundTrip closes the loop between judge and planner for every case
// with a fixable principal finding: the planned policy, judged again, has no
// fixable finding left, keeps every non-fixable one, and planning again
// changes nothing.
func TestFixRoundTrip(t *testing.T) {
	n := 0
	for _, c := range loadCases(t) {
		in := input(t, c)
		r := rules.Evaluate(in)
		if len(r.Grants) == 0 {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			grants := rules.MergeGrants(r.Grants)
			ch, err := plan.Fix(in.Key.Policy, grants)
			if err != nil {
				t.Fatalf("Fix: %v", err)
			}
			if !ch.Changed {
				t.Fatalf("Fix changed nothing for fixable findings %s", dump(r.Findings))
			}
			checkFixed(t, in, r, grants, ch.Policy)
			after := in
			k := *in.Key
			k.Policy = ch.Policy
			after.Key = &k
			r2 := rules.Evaluate(after)
			for _, f := range r2.Findings {
				if f.Fixable {
					t.Errorf("after fix: fixable %s remains: %s\npolicy:\n%s", label(f), f.Message, ch.Policy)
				}
			}
			// What could not be fixed is still reported: fixing never hides a finding.
			for _, f := range r.Findings {
				if !f.Fixable && !hasLabel(r2.Findings, label(f)) {
					t.Errorf("after fix: non-fixable %s disappeared", label(f))
				}
			}
		})
	}
	if n < 15 {
		t.Errorf("only %d cases exercise the planner", n)
	}
}

// TestGoldenThroughJudge closes the same loop for the planner's golden
// policies: each, judged for the principals its grants name, is fixed with
// the grants the judge asks for, and the fixed policy, judged again, has no
// fixable finding (idempotence through the judge, not only the planner).
func TestGoldenThroughJudge(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "plan", "testdata", "golden", "*"))
	if err != nil || len(dirs) < 15 {
		t.Fatalf("golden cases: %d (%v)", len(dirs), err)
	}
	n := 0
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			pol, err := os.ReadFile(filepath.Join(dir, "input.json"))
			if err != nil {
				t.Fatal(err)
			}
			var gs []rules.Grant
			b, err := os.ReadFile(filepath.Join(dir, "grants.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &gs); err != nil {
				t.Fatal(err)
			}
			in := rules.Input{
				Topic: rules.Topic{ARN: defTopicARN, KMSMasterKeyID: "alias/orders"},
				Key: &rules.Key{ARN: defKeyARN, Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT", Usage: "ENCRYPT_DECRYPT",
					State: "Enabled", Aliases: []string{"alias/orders"}, Policy: pol},
			}
			for _, g := range gs {
				in.Config.RequiredPrincipals = append(in.Config.RequiredPrincipals, g.Principal)
			}
			r := rules.Evaluate(in)
			if len(r.Grants) == 0 {
				return
			}
			grants := rules.MergeGrants(r.Grants)
			ch, err := plan.Fix(pol, grants)
			if errors.Is(err, plan.ErrTooLarge) {
				return
			}
			if err != nil {
				t.Fatalf("Fix: %v", err)
			}
			if !ch.Changed {
				t.Fatalf("fixable findings but no change: %s", dump(r.Findings))
			}
			n++
			checkFixed(t, in, r, grants, ch.Policy)
			k := *in.Key
			k.Policy = ch.Policy
			in.Key = &k
			for _, f := range rules.Evaluate(in).Findings {
				if f.Fixable {
					t.Errorf("after fix: fixable %s remains: %s\n%s", label(f), f.Message, ch.Policy)
				}
			}
		})
	}
	if n < 10 {
		t.Errorf("only %d golden policies exercise the judge and the planner together", n)
	}
}

func hasLabel(fs []rules.Finding, l string) bool {
	for _, f := range fs {
		if label(f) == l {
			return true
		}
	}
	return false
}

// checkFixed holds one fix to the planner's safety invariants (plan.CheckFix).
func checkFixed(t testing.TB, in rules.Input, _ rules.Result, grants []rules.Grant, fixed []byte) {
	t.Helper()
	// The widening proof needs the key's account and region: the topic's,
	// else (a fuzzed topic ARN that does not parse) the grants' own account.
	g := plan.Grid{Account: "111122223333", Region: "us-east-1", KeyARN: in.Key.ARN, Grants: grants}
	if topic := strings.Split(in.Topic.ARN, ":"); len(topic) == 6 && topic[4] != "" && topic[3] != "" {
		g.Account, g.Region, g.TopicARN = topic[4], topic[3], in.Topic.ARN
	} else if len(grants) > 0 && len(grants[0].SourceAccounts) > 0 {
		g.Account = grants[0].SourceAccounts[0]
	}
	if err := plan.CheckFixGrid(g, in.Key.Policy, fixed); err != nil {
		t.Fatalf("fix breaks the safety invariants:\n%v\n%s", err, fixed)
	}
}

// FuzzEvaluatePlan judges and fixes arbitrary key and topic policies and
// checks the planner's invariants on whatever the judge asks it to fix.
func FuzzEvaluatePlan(f *testing.F) {
	for _, c := range loadCases(f) {
		in := input(f, c)
		if in.Key == nil {
			continue
		}
		f.Add(in.Key.Policy, in.Topic.Policy, strings.Join(in.Config.RequiredPrincipals, ","))
	}
	f.Fuzz(func(t *testing.T, keyPolicy, topicPolicy []byte, required string) {
		in := rules.Input{
			Topic: rules.Topic{ARN: defTopicARN, KMSMasterKeyID: "alias/orders", Policy: topicPolicy},
			Key: &rules.Key{ARN: defKeyARN, Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT", Usage: "ENCRYPT_DECRYPT",
				State: "Enabled", Aliases: []string{"alias/orders"}, Policy: keyPolicy},
			Config: rules.Config{RequiredPrincipals: strings.Split(required, ",")},
		}
		r := rules.Evaluate(in)
		if r.Findings == nil || r.Publishers < 1 {
			t.Fatalf("bad result %+v", r)
		}
		checkDenyWins(t, r)
		// The parse-once path of a sweep judges the same.
		if doc, err := policy.Parse(keyPolicy); err == nil {
			k := *in.Key
			k.Parsed = doc
			pin := in
			pin.Key = &k
			if got := rules.Evaluate(pin); !reflect.DeepEqual(got, r) {
				t.Fatalf("with Parsed:\n%s\nwithout:\n%s", dump(got), dump(r))
			}
		}
		if len(r.Grants) == 0 {
			return
		}
		if len(keyPolicy) > policy.MaxKeyPolicyBytes {
			return // KMS would never have returned it
		}
		grants := rules.MergeGrants(r.Grants)
		ch, err := plan.Fix(keyPolicy, grants)
		if errors.Is(err, plan.ErrTooLarge) || errors.Is(err, plan.ErrRefused) {
			return // reported, nothing written
		}
		if err != nil {
			t.Fatalf("Fix(%v): %v", grants, err)
		}
		if !ch.Changed {
			t.Fatalf("fixable findings but no change: %s", dump(r.Findings))
		}
		checkFixed(t, in, r, grants, ch.Policy)
		k := *in.Key
		k.Policy = ch.Policy
		in.Key = &k
		for _, f := range rules.Evaluate(in).Findings {
			if f.Fixable {
				t.Fatalf("after fix: fixable %s remains: %s\n%s", label(f), f.Message, ch.Policy)
			}
		}
	})
}

// bigPolicy builds a key policy of about 30 KB with 100 statements: the
// root, key administrators and many application roles with conditions,
// plus unprotected cloudwatch and events grants and no s3 grant, so that
// judging visits every statement and the planner has work to do.
func bigPolicy() []byte {
	st := []string{`{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`,
		`{"Sid":"CW","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}`,
		`{"Sid":"EV","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}}`}
	for i := len(st); i < 100; i++ {
		st = append(st, fmt.Sprintf(`{"Sid":"AppRole%03d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/app-%03d"},`+
			`"Action":["kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*",`+
			`"Condition":{"StringEquals":{"kms:ViaService":"sns.us-east-1.amazonaws.com"},"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/app-%03d*"}}}`, i, i, i))
	}
	return []byte(`{"Version":"2012-10-17","Id":"big","Statement":[` + strings.Join(st, ",\n") + `]}`)
}

func BenchmarkEvaluatePlan(b *testing.B) {
	pol := bigPolicy()
	if len(pol) < 28000 || len(pol) > 32768 {
		b.Fatalf("policy is %d bytes, want about 30 KB", len(pol))
	}
	in := rules.Input{
		Topic: rules.Topic{ARN: defTopicARN, KMSMasterKeyID: "alias/orders",
			Policy: []byte(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"SNS:Publish","Resource":"` + defTopicARN + `","Condition":{"StringEquals":{"AWS:SourceOwner":"111122223333"}}}]}`)},
		Key: &rules.Key{ARN: defKeyARN, Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT", Usage: "ENCRYPT_DECRYPT",
			State: "Enabled", Aliases: []string{"alias/orders"}, Policy: pol},
		Config: rules.Config{RequiredPrincipals: []string{"cloudwatch.amazonaws.com", "s3.amazonaws.com", "events.amazonaws.com"}},
	}
	r := rules.Evaluate(in)
	if len(r.Grants) != 3 {
		b.Fatalf("grants = %v, findings %s", r.Grants, dump(r.Findings))
	}
	b.SetBytes(int64(len(pol)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := rules.Evaluate(in)
		if _, err := plan.Fix(in.Key.Policy, rules.MergeGrants(r.Grants)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluate is the judge alone on the same policy, so the planner's
// share of BenchmarkEvaluatePlan is visible.
func BenchmarkEvaluate(b *testing.B) {
	in := rules.Input{
		Topic: rules.Topic{ARN: defTopicARN, KMSMasterKeyID: "alias/orders"},
		Key: &rules.Key{ARN: defKeyARN, Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT", Usage: "ENCRYPT_DECRYPT",
			State: "Enabled", Aliases: []string{"alias/orders"}, Policy: bigPolicy()},
		Config: rules.Config{RequiredPrincipals: []string{"cloudwatch.amazonaws.com", "s3.amazonaws.com", "events.amazonaws.com"}},
	}
	b.ReportAllocs()
	for b.Loop() {
		rules.Evaluate(in)
	}
}

// BenchmarkParse is the policy parser alone on the same policy.
func BenchmarkParse(b *testing.B) {
	pol := bigPolicy()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := policy.Parse(pol); err != nil {
			b.Fatal(err)
		}
	}
}
