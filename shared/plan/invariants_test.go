package plan

import (
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// TestCheckFixCanFail feeds CheckFix one broken policy per invariant, so a
// suite that passes with it is not passing vacuously, and one real fix that
// must pass.
func TestCheckFixCanFail(t *testing.T) {
	root := `{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`
	cw := `{"Sid":"cw","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*"}`
	ev := `{"Sid":"ev","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}`
	doc := func(stmts ...string) []byte {
		return []byte(`{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`)
	}
	before := doc(root, cw)
	grants := []rules.Grant{{Principal: "events.amazonaws.com"}}
	fixed, err := Fix(before, grants)
	if err != nil || !fixed.Changed {
		t.Fatalf("Fix: %v %+v", err, fixed)
	}
	if err := CheckFix(before, fixed.Policy, grants...); err != nil {
		t.Fatalf("a real fix fails the checks: %v\n%s", err, fixed.Policy)
	}
	if err := CheckFix(before, before); err != nil {
		t.Fatalf("an unchanged policy fails the checks: %v", err)
	}
	for name, tc := range map[string]struct {
		after  []byte
		grants []rules.Grant
		want   string
	}{
		"invalid JSON":        {[]byte(`{"Version":`), nil, "not valid JSON"},
		"does not parse":      {[]byte(`{"Statement":[{"Effect":"Maybe"}]}`), nil, "does not parse"},
		"too large":           {doc(root, cw, strings.Replace(ev, `"ev"`, `"`+strings.Repeat("x", 33000)+`"`, 1)), nil, "bytes > 32768"},
		"statement removed":   {doc(root), nil, "removed or reordered statement"},
		"root changed":        {doc(strings.Replace(root, `"kms:*"`, `"kms:Decrypt"`, 1), cw), nil, `statement "Enable IAM User Permissions" (no target principal) changed`},
		"reordered":           {doc(cw, root), []rules.Grant{{Principal: "events.amazonaws.com"}}, "removed or reordered statement"},
		"new AWS principal":   {doc(root, cw, `{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`), nil, "fix added principal *"},
		"AWS principal gone":  {doc(strings.Replace(root, `{"AWS":"arn:aws:iam::111122223333:root"}`, `{"Service":"s3.amazonaws.com"}`, 1), cw), nil, "fix removed principal AWS:arn:aws:iam::111122223333:root"},
		"outside the table":   {doc(root, cw, strings.Replace(ev, "events.amazonaws.com", "lambda.amazonaws.com", 1)), nil, "fix added principal Service:lambda.amazonaws.com"},
		"not a target":        {doc(root, cw, ev), []rules.Grant{{Principal: "s3.amazonaws.com"}}, "fix added principal Service:events.amazonaws.com"},
		"added Deny":          {doc(root, cw, strings.Replace(ev, `"Allow"`, `"Deny"`, 1)), nil, "is not an Allow for one target principal"},
		"duplicate grant":     {doc(root, cw, ev, strings.Replace(ev, `"ev"`, `"ev2"`, 1)), nil, "2 statements grant events.amazonaws.com (0 before)"},
		"our Sid twice":       {doc(root, cw, strings.Replace(ev, `"ev"`, `"`+SID("events.amazonaws.com")+`"`, 1), strings.Replace(cw, `"cw"`, `"`+SID("events.amazonaws.com")+`"`, 1)), nil, "2 statements with Sid AllowSNSPublishersEvents"},
		"not idempotent":      {before, grants, "second Fix changed the policy"},
		"target edit allowed": {doc(root, strings.Replace(cw, `"kms:Decrypt"`, `["kms:Decrypt","kms:GenerateDataKey*"]`, 1)), []rules.Grant{{Principal: "cloudwatch.amazonaws.com"}}, ""},
	} {
		err := CheckFix(before, tc.after, tc.grants...)
		switch {
		case tc.want == "" && err != nil && !strings.Contains(err.Error(), "second Fix"):
			t.Errorf("%s: an allowed edit fails the checks: %v", name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: checker said %v, want %q", name, err, tc.want)
		}
	}
}

// A Sid-less EventBridge-only statement the fix removes, followed by a
// Sid-less statement it may not touch: the checker must not pair the removed
// statement with the untouched one (found by FuzzFix, kept in
// testdata/fuzz/FuzzFix/4243aaad8c076fc1); and a statement that is not
// removable, gone the same way, still fails.
func TestCheckFixAlignsARemovedStatement(t *testing.T) {
	doc := func(stmts ...string) []byte {
		return []byte(`{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`)
	}
	ev := `{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"kms:*","Resource":"*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:events:*:111122223333:rule/x"}}}`
	other := `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`
	ours := `{"Sid":"` + SID("events.amazonaws.com") + `","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}`
	grants := []rules.Grant{{Principal: "events.amazonaws.com"}}
	before := doc(ev, other)
	if err := CheckFix(before, doc(other, ours), grants...); err != nil && !strings.Contains(err.Error(), "second Fix") {
		t.Errorf("removing the EventBridge-only statement is refused: %v", err)
	}
	cw := strings.Replace(ev, "events.amazonaws.com", "cloudwatch.amazonaws.com", 1)
	err := CheckFix(doc(cw, other), doc(other, ours), grants...)
	if err == nil || !strings.Contains(err.Error(), "removed or reordered statement") {
		t.Errorf("removing a CloudWatch statement: %v", err)
	}
	if err := CheckFix(before, doc(other, ev, ours), grants...); err == nil {
		t.Error("a reordered policy passes")
	}
}
