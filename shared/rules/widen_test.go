package rules_test

import (
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// widenGrid is the in-process half of "a fix never widens": identities,
// actions and request contexts whose allows are compared before and after a
// fix. An independent IAM evaluator checks the same grid out of process.
var (
	widenActions = []string{"kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt", "kms:ReEncryptFrom",
		"kms:CreateGrant", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey"}
	widenOthers = []policy.Identity{
		{Service: "lambda.amazonaws.com"}, {Service: "sqs.amazonaws.com"},
		{AWS: "arn:aws:iam::444455556666:root"}, {AWS: "arn:aws:iam::111122223333:role/app"},
	}
)

// widenContexts are requests from the topic owner's source, from another
// account's source, and without source keys, each fully described (closed),
// so that every allow is decided.
func widenContexts(principal string) map[string]policy.Context {
	mk := func(acct, arn string) policy.Context {
		c := policy.NewContext()
		c.SetOthersAbsent()
		if strings.Contains(principal, "amazonaws.com") {
			c.Set("aws:PrincipalIsAWSService", "true")
			c.Set("aws:PrincipalServiceName", principal)
		} else {
			c.Set("aws:PrincipalIsAWSService", "false")
			c.Set("aws:PrincipalArn", principal)
			c.Set("aws:PrincipalAccount", strings.Split(principal, ":")[4])
			c.Set("kms:CallerAccount", strings.Split(principal, ":")[4])
		}
		c.Set("aws:ResourceAccount", "111122223333")
		c.Set("kms:ViaService", "sns.us-east-1.amazonaws.com")
		c.Set("kms:EncryptionContext:aws:sns:topicArn", defTopicARN)
		c.Set("kms:EncryptionContextKeys", "aws:sns:topicArn")
		if acct != "" {
			c.Set("aws:SourceAccount", acct)
			c.Set("aws:SourceArn", arn)
		}
		return c
	}
	return map[string]policy.Context{
		"own":      mk("111122223333", "arn:aws:cloudwatch:us-east-1:111122223333:alarm:high-cpu"),
		"foreign":  mk("444455556666", "arn:aws:cloudwatch:us-east-1:444455556666:alarm:high-cpu"),
		"nosource": mk("", ""),
	}
}

// mayAllow: some Allow statement covers the request and its condition is
// not False (denies are left out: a fix keeps every statement that does not
// grant a required service principal, denies included).
func mayAllow(d *policy.Document, id policy.Identity, action string, c policy.Context) bool {
	c = c.ForDocument(d)
	for _, s := range d.Statements {
		if s.IsAllow() && s.MatchesPrincipal(id) && s.MatchesAction(action) && s.MatchesResource(defKeyARN) && s.EvalCondition(c) != policy.False {
			return true
		}
	}
	return false
}

// checkNoWidening asserts that after the fix no identity of the grid may do
// anything it could not do before, except the fixed principals'
// kms:GenerateDataKey / kms:Decrypt from their own account's sources
// (EventBridge: without source keys).
func checkNoWidening(t testing.TB, before, after []byte, grants []rules.Grant) {
	t.Helper()
	oldDoc, err1 := policy.Parse(before)
	newDoc, err2 := policy.Parse(after)
	if err1 != nil || err2 != nil {
		t.Fatalf("parse: %v / %v", err1, err2)
	}
	ids := append([]policy.Identity(nil), widenOthers...)
	required := map[string]bool{}
	for _, g := range grants {
		p := strings.ToLower(g.Principal)
		required[p] = true
		ids = append(ids, policy.Identity{Service: p})
	}
	ids = append(ids, policy.Identity{Service: "cloudwatch.amazonaws.com"}, policy.Identity{Service: "events.amazonaws.com"})
	for _, id := range ids {
		who := id.Service + id.AWS
		for name, c := range widenContexts(who) {
			for _, a := range widenActions {
				if !mayAllow(newDoc, id, a, c) || mayAllow(oldDoc, id, a, c) {
					continue
				}
				ok := required[id.Service] && (a == "kms:GenerateDataKey" || a == "kms:Decrypt") &&
					(name == "own" || id.Service == "events.amazonaws.com")
				if !ok {
					t.Errorf("fix widened access: %s may now %s (%s source)\nbefore:\n%s\nafter:\n%s", who, a, name, before, after)
				}
			}
		}
	}
}

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

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

// TestCheckNoWideningCatches keeps the widening check able to fail.
func TestCheckNoWideningCatches(t *testing.T) {
	before := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`)
	grants := []rules.Grant{{Principal: "cloudwatch.amazonaws.com", SourceAccounts: []string{"111122223333"}, SourceARNs: []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}}
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
		{strings.Replace(good, "cloudwatch.amazonaws.com", "lambda.amazonaws.com", 1), true},
	} {
		after := []byte(strings.Replace(string(before), `"Resource":"*"}]`, `"Resource":"*"},`+tc.added+`]`, 1))
		r := &recorder{TB: t}
		checkNoWidening(r, before, after, grants)
		if r.failed != tc.widen {
			t.Errorf("widened = %v, want %v for %s", r.failed, tc.widen, tc.added)
		}
	}
}
