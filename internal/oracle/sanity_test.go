package oracle_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/internal/oracle"
	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

const rootStatement = `{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`

func keyPolicy(statements ...string) []byte {
	return []byte(`{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`)
}

// TestOracleAnswers pins the oracle's answers on policies whose IAM verdict
// is not in doubt, so that a broken wiring (a context key not reaching the
// evaluator, a wrong principal or resource) fails here rather than turning
// every comparison into a vacuous agreement. The engine must agree too.
func TestOracleAnswers(t *testing.T) {
	sim := oracle.Require(t)
	own := oracle.OwnSource(cloudwatch, oracle.Region, oracle.Account)
	other := oracle.OwnSource(cloudwatch, oracle.Region, oracle.OtherAccount)
	cases := []struct {
		name   string
		policy []byte
		p      string
		src    oracle.Source
		want   oracle.Decision
	}{
		{"pinned grant, own source", keyPolicy(rootStatement, `{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",
			"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333","kms:EncryptionContext:aws:sns:topicArn":"`+oracle.TopicARN+`"},
			"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"},"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"aws:sns:topicArn","kms:ResourceAliases":"alias/orders"},
			"Bool":{"aws:PrincipalIsAWSService":"true"}}}`), cloudwatch, own, oracle.Allowed},
		{"pinned grant, another account's source", keyPolicy(rootStatement, `{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",
			"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"},"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}}`), cloudwatch, other, oracle.ImplicitlyDenied},
		{"grant to another topic's encryption context", keyPolicy(`{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",
			"Condition":{"StringEquals":{"kms:EncryptionContext:aws:sns:topicArn":"arn:aws:sns:us-east-1:111122223333:other"}}}`), cloudwatch, own, oracle.ImplicitlyDenied},
		{"deny without encryption context does not apply", keyPolicy(`{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"kms:*","Resource":"*"}`,
			`{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Null":{"kms:EncryptionContextKeys":"true"}}}`), cloudwatch, own, oracle.Allowed},
		{"unconditional deny", keyPolicy(`{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"kms:*","Resource":"*"}`,
			`{"Effect":"Deny","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*"}`), cloudwatch, own, oracle.ExplicitlyDenied},
		{"aws:PrincipalAccount is in a service's request", keyPolicy(`{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",
			"Condition":{"Null":{"aws:PrincipalAccount":"false"}}}`), cloudwatch, own, oracle.Allowed},
		{"root delegation does not reach a service", keyPolicy(rootStatement), cloudwatch, own, oracle.ImplicitlyDenied},
		{"EventBridge without source keys", keyPolicy(`{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",
			"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}}`), events, oracle.Source{}, oracle.ImplicitlyDenied},
		{"other key's ARN", keyPolicy(`{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:key/other"}`), cloudwatch, own, oracle.ImplicitlyDenied},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op, err := sim.Load(c.policy)
			if err != nil || len(op.Errors) > 0 {
				t.Fatalf("load: %v %v", err, op)
			}
			ctx := oracle.SNSContext(c.p, oracle.TopicARN, oracle.KeyARN, []string{"alias/orders"}, c.src)
			if got := decidePair(t, op, c.p, oracle.KeyARN, ctx); got != c.want {
				t.Errorf("oracle = %s, want %s", got, c.want)
			}
			doc, err := policy.Parse(c.policy)
			if err != nil {
				t.Fatal(err)
			}
			if got := rules.GrantVerdict(doc, oracle.KeyARN, c.p, ctx.Engine()); string(got) != string(c.want) {
				t.Errorf("engine = %s, want %s", got, c.want)
			}
		})
	}
	// The delegation to IAM: a role of the account with an identity policy
	// that allows everything may manage the key; another account's root may not.
	op, err := sim.Load(keyPolicy(rootStatement))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]oracle.Decision{accountRole: oracle.Allowed, otherRoot: oracle.ImplicitlyDenied} {
		got, err := op.Decide(oracle.Request{Principal: p, Action: "kms:PutKeyPolicy", Resource: oracle.KeyARN, ResourceAccount: oracle.Account,
			Context: oracle.PrincipalContext(p, oracle.KeyARN).Oracle(), IdentityAllowAll: true})
		if err != nil || got != want {
			t.Errorf("%s kms:PutKeyPolicy = %s (%v), want %s", p, got, err, want)
		}
	}
	// The principal's account reaches the evaluator (aws:PrincipalAccount).
	op, err = sim.Load(keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"` + oracle.Account + `"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]oracle.Decision{accountRole: oracle.Allowed, otherRoot: oracle.ImplicitlyDenied} {
		got, err := op.Decide(oracle.Request{Principal: p, Action: "kms:Decrypt", Resource: oracle.KeyARN, ResourceAccount: oracle.Account,
			Context: oracle.PrincipalContext(p, oracle.KeyARN).Oracle(), IdentityAllowAll: true})
		if err != nil || got != want {
			t.Errorf("%s kms:Decrypt under aws:PrincipalAccount = %s (%v), want %s", p, got, err, want)
		}
	}
}

// TestNeverWidenDetects proves the never-widen check can fail: fixes written
// by hand, one that widens and ones that do not.
func TestNeverWidenDetects(t *testing.T) {
	sim := oracle.Require(t)
	cwGrant := rules.Grant{Principal: cloudwatch, SourceAccounts: []string{oracle.Account}, SourceARNs: []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}
	ours := `{"Sid":"AllowSNSPublishersCloudwatch","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",
		"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"},"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}}`
	cases := []struct {
		name   string
		after  []byte
		grants []rules.Grant
		want   []string // principal action source of each widening
	}{
		{"conditioned grant", keyPolicy(rootStatement, ours), []rules.Grant{cwGrant}, nil},
		{"EventBridge grant", keyPolicy(rootStatement, `{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}`),
			[]rules.Grant{{Principal: events}}, nil},
		{"grant without conditions", keyPolicy(rootStatement, `{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}`),
			[]rules.Grant{cwGrant}, []string{"cloudwatch.amazonaws.com kms:GenerateDataKey other", "cloudwatch.amazonaws.com kms:GenerateDataKey none",
				"cloudwatch.amazonaws.com kms:Decrypt other", "cloudwatch.amazonaws.com kms:Decrypt none"}},
		{"EventBridge given kms:*", keyPolicy(rootStatement, `{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"kms:*","Resource":"*"}`),
			[]rules.Grant{{Principal: events}}, nil}, // filled below: every other action in every source
		{"someone else's root added", keyPolicy(rootStatement, ours, `{"Effect":"Allow","Principal":{"AWS":"`+otherRoot+`"},"Action":"kms:Decrypt","Resource":"*"}`),
			[]rules.Grant{cwGrant}, []string{otherRoot + " kms:Decrypt own", otherRoot + " kms:Decrypt other", otherRoot + " kms:Decrypt none"}},
	}
	for _, a := range gridActions[2:] {
		for _, src := range []string{"own", "other", "none"} {
			cases[3].want = append(cases[3].want, events+" "+a+" "+src)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := fix{name: c.name, before: keyPolicy(rootStatement), after: c.after, grants: c.grants,
				topicARN: oracle.TopicARN, keyARN: oracle.KeyARN, aliases: []string{"alias/orders"}}
			var got []string
			for _, is := range checkFix(t, sim, f) {
				got = append(got, is.principal+" "+is.action+" "+is.ctx)
			}
			if strings.Join(sorted(got), "\n") != strings.Join(sorted(c.want), "\n") {
				t.Errorf("widenings:\n%s\nwant:\n%s", strings.Join(sorted(got), "\n"), strings.Join(sorted(c.want), "\n"))
			}
		})
	}
}

func sorted(xs []string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	return out
}
