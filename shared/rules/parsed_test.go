package rules_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/plan"
	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// TestEvaluateParsed holds the parse-once path of a sweep to the plain one
// over the whole corpus: Evaluate with Key.Parsed set gives the same result
// as without, plan.FixDoc the same change as plan.Fix, and neither edits the
// shared document. A Parsed document of another policy (the policy was
// re-read after an outside edit) is ignored.
func TestEvaluateParsed(t *testing.T) {
	used, fixed := 0, 0
	stale, err := policy.Parse([]byte(`{"Statement":{"Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"kms:*"}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range loadCases(t) {
		in := input(t, c)
		if in.Key == nil {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			want := rules.Evaluate(in)
			doc, err := policy.Parse(in.Key.Policy)
			if err != nil {
				doc = stale // an unparseable policy still gets a (wrong) document
			} else {
				used++
			}
			before, _ := doc.Marshal()
			k := *in.Key
			k.Parsed = doc
			pin := in
			pin.Key = &k
			if got := rules.Evaluate(pin); !reflect.DeepEqual(got, want) {
				t.Errorf("with Parsed:\n%s\nwithout:\n%s", dump(got), dump(want))
			}
			k.Parsed = stale
			if got := rules.Evaluate(pin); !reflect.DeepEqual(got, want) {
				t.Errorf("with a stale Parsed:\n%s\nwithout:\n%s", dump(got), dump(want))
			}
			if len(want.Grants) > 0 {
				fixed++
				grants := rules.MergeGrants(want.Grants)
				wantCh, wantErr := plan.Fix(in.Key.Policy, grants)
				for _, d := range []*policy.Document{doc, stale, nil} {
					ch, err := plan.FixDoc(d, in.Key.Policy, grants)
					if !reflect.DeepEqual(ch, wantCh) || !reflect.DeepEqual(err, wantErr) {
						t.Errorf("FixDoc = %s, %v\nFix    = %s, %v", dump(ch), err, dump(wantCh), wantErr)
					}
				}
			}
			if after, _ := doc.Marshal(); !bytes.Equal(after, before) {
				t.Errorf("the shared document was edited:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	t.Logf("%d cases used Parsed, %d planned a fix", used, fixed)
	if used < 60 || fixed < 15 {
		t.Errorf("only %d cases used Parsed and %d planned a fix", used, fixed)
	}
}

// BenchmarkEvaluateParsed is what a sweep pays per topic: judging with the
// key policy parsed once per key (BenchmarkEvaluatePlanParsed adds the plan).
func BenchmarkEvaluateParsed(b *testing.B) {
	in := benchInput(b)
	r := rules.Evaluate(in)
	if len(r.Grants) != 3 {
		b.Fatalf("grants = %v", r.Grants)
	}
	b.ReportAllocs()
	for b.Loop() {
		rules.Evaluate(in)
	}
}

// BenchmarkEvaluatePlanParsed is BenchmarkEvaluatePlan with the key policy
// parsed once: judge, then plan from the same document.
func BenchmarkEvaluatePlanParsed(b *testing.B) {
	in := benchInput(b)
	b.SetBytes(int64(len(in.Key.Policy)))
	b.ReportAllocs()
	for b.Loop() {
		r := rules.Evaluate(in)
		if _, err := plan.FixDoc(in.Key.Parsed, in.Key.Policy, rules.MergeGrants(r.Grants)); err != nil {
			b.Fatal(err)
		}
	}
}

func benchInput(b testing.TB) rules.Input {
	pol := bigPolicy()
	doc, err := policy.Parse(pol)
	if err != nil {
		b.Fatal(err)
	}
	return rules.Input{
		Topic: rules.Topic{ARN: defTopicARN, KMSMasterKeyID: "alias/orders",
			Policy: []byte(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"SNS:Publish","Resource":"` + defTopicARN + `","Condition":{"StringEquals":{"AWS:SourceOwner":"111122223333"}}}]}`)},
		Key: &rules.Key{ARN: defKeyARN, Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT", Usage: "ENCRYPT_DECRYPT",
			State: "Enabled", Aliases: []string{"alias/orders"}, Policy: pol, Parsed: doc},
		Config: rules.Config{RequiredPrincipals: []string{"cloudwatch.amazonaws.com", "s3.amazonaws.com", "events.amazonaws.com"}},
	}
}

// TestEvaluateParsedDoesNotParse: with Parsed set, judging a topic does not
// parse the key policy again (a sweep of many topics per key relies on it);
// parsing the benchmark policy alone takes hundreds of allocations.
func TestEvaluateParsedDoesNotParse(t *testing.T) {
	in := benchInput(t)
	with := testing.AllocsPerRun(5, func() { rules.Evaluate(in) })
	parse := testing.AllocsPerRun(5, func() { policy.Parse(in.Key.Policy) })
	k := *in.Key
	k.Parsed = nil
	in.Key = &k
	without := testing.AllocsPerRun(5, func() { rules.Evaluate(in) })
	if parse < 300 || without-with < parse*0.9 {
		t.Errorf("allocations: Evaluate %v with Parsed, %v without, Parse %v: Parsed is not used", with, without, parse)
	}
}
