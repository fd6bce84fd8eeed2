package reliability

import (
	"strings"
	"testing"
)

// TestInvariantChecksCanFail feeds the suites' policy checker one broken
// policy per invariant, so a suite that passes is not passing vacuously.
func TestInvariantChecksCanFail(t *testing.T) {
	orig := []byte(originalPolicy)
	cw := `{"Sid":"cw2","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*"}`
	doc := func(stmts ...string) []byte {
		return []byte(`{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`)
	}
	root := strings.TrimSpace(rootStatement)
	for name, tc := range map[string]struct {
		after []byte
		want  string
	}{
		"invalid JSON":      {[]byte(`{"Version":`), "invalid JSON"},
		"too large":         {doc(root, strings.Replace(cw, "cw2", strings.Repeat("x", 33000), 1)), "bytes > 32768"},
		"duplicate grant":   {doc(root, cw, strings.Replace(cw, "cw2", "cw3", 1)), "2 statements grant events.amazonaws.com"},
		"outside the table": {doc(root, strings.Replace(cw, "events.amazonaws.com", "lambda.amazonaws.com", 1)), "outside the sources table"},
		"new AWS principal": {doc(root, `{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`), "AWS principals changed"},
		"root changed":      {doc(strings.Replace(root, `"kms:*"`, `"kms:Decrypt"`, 1)), `"Enable IAM User Permissions" changed`},
	} {
		bad := invariants(orig, tc.after)
		if !strings.Contains(strings.Join(bad, "; "), tc.want) {
			t.Errorf("%s: checker said %v, want %q", name, bad, tc.want)
		}
	}
	if bad := invariants(orig, orig); bad != nil {
		t.Errorf("the original policy fails the checks: %v", bad)
	}
}
