package rules_test

import (
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/plan"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// checkDenyWins: an uncertain finding is never fixed, and a principal that a
// deny certainly blocks gets no grant: explicit deny wins. (Beside a deny
// that may not apply, a missing grant is still added: the deny is reported.)
func checkDenyWins(t testing.TB, r rules.Result) {
	t.Helper()
	denied := map[string]bool{}
	for _, f := range r.Findings {
		if f.Uncertain && f.Fixable {
			t.Errorf("uncertain finding is fixable: %s %s", f.Code, f.Principal)
		}
		if f.Code == rules.GrantDenied && !f.Uncertain {
			denied[f.Principal] = true
		}
	}
	for _, g := range r.Grants {
		if denied[g.Principal] {
			t.Errorf("grant planned for %s, which a deny blocks", g.Principal)
		}
	}
}

// TestWideningIsCaught keeps the widening proof the corpus and the fuzzer
// use (plan.CheckFixGrid, through checkFixed) able to fail on the shapes a
// wrong fix could take.
func TestWideningIsCaught(t *testing.T) {
	before := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`)
	grants := []rules.Grant{{Principal: "cloudwatch.amazonaws.com", SourceAccounts: []string{"111122223333"}, SourceARNs: []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}}
	g := plan.Grid{Account: "111122223333", Region: "us-east-1", Grants: grants}
	good := `{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",` +
		`"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"},"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}}`
	for _, tc := range []struct {
		added string
		widen bool
	}{
		{good, false},
		{strings.Replace(good, `["kms:GenerateDataKey*","kms:Decrypt"]`, `"kms:*"`, 1), true},
		{strings.Replace(good, `"111122223333"},"ArnLike"`, `"*"},"ArnLike"`, 1), false}, // StringEquals "*" matches only "*"
		{strings.Replace(good, `"StringEquals"`, `"StringLike"`, 1), false},
		{strings.NewReplacer(`"StringEquals"`, `"StringLike"`, `"111122223333"},"ArnLike"`, `"*"},"ArnLike"`,
			"us-east-1:111122223333:alarm", "*:*:alarm").Replace(good), true},
		// Another service pinned to alarm ARNs: SES's requests never carry an
		// alarm as aws:SourceArn (a service's source has its own ARN shape).
		{strings.Replace(good, "cloudwatch.amazonaws.com", "ses.amazonaws.com", 1), false},
		{`{"Effect":"Allow","Principal":{"Service":"ses.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}`, true},
	} {
		after := []byte(strings.Replace(string(before), `"Resource":"*"}]`, `"Resource":"*"},`+tc.added+`]`, 1))
		wide, err := g.Widened(before, after)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(wide) > 0; got != tc.widen {
			t.Errorf("widened = %v (%v), want %v for %s", got, wide, tc.widen, tc.added)
		}
	}
}
