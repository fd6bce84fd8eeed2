package plan

import (
	"bytes"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// TestFixDoc holds FixDoc, given the parsed policy, to Fix over every golden
// case, and checks that it leaves the document it was given untouched.
func TestFixDoc(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/golden/*")
	changed := 0
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			input := read(t, filepath.Join(dir, "input.json"))
			if checkFixDoc(t, input, readGrants(t, filepath.Join(dir, "grants.json"))) {
				changed++
			}
		})
	}
	if changed < 15 {
		t.Errorf("only %d golden cases change the policy", changed)
	}
}

// TestFixDocStale: a document that is not the parse of the policy (read
// before an outside edit) is not used.
func TestFixDocStale(t *testing.T) {
	old := []byte(`{"Statement":[{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}]}`)
	doc, err := policy.Parse(old)
	if err != nil {
		t.Fatal(err)
	}
	now := []byte(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`)
	grants := []rules.Grant{{Principal: "cloudwatch.amazonaws.com", SourceAccounts: []string{"111122223333"}, SourceARNs: []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}}
	got, err := FixDoc(doc, now, grants)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Fix(now, grants)
	if !reflect.DeepEqual(got, want) || !got.Changed {
		t.Fatalf("FixDoc with a stale document:\n%s\nwant\n%s", got.Policy, want.Policy)
	}
	if _, err := FixDoc(doc, []byte(`{`), grants); err == nil {
		t.Fatal("FixDoc accepted a policy that does not parse because it was given a document")
	}
}

// checkFixDoc runs FixDoc on the parsed input and compares it with Fix; it
// reports whether the policy changed.
func checkFixDoc(t *testing.T, input []byte, grants []rules.Grant) bool {
	t.Helper()
	want, wantErr := Fix(input, grants)
	doc, err := policy.Parse(input)
	if err != nil {
		return false
	}
	before, err := doc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := FixDoc(doc, input, grants)
	if !reflect.DeepEqual(got, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("FixDoc = %q, %v\nFix    = %q, %v", got.Policy, err, want.Policy, wantErr)
	}
	if after, _ := doc.Marshal(); !bytes.Equal(after, before) {
		t.Fatalf("FixDoc edited the document it was given:\nbefore %s\nafter  %s", before, after)
	}
	if !doc.ParsedFrom(input) {
		t.Fatal("the document no longer claims to be the parse of its input")
	}
	return got.Changed
}
