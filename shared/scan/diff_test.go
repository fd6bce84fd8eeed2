package scan

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	// Changes 6 unchanged lines apart share a hunk (diff -u merges gaps of
	// up to twice the context); 9 lines apart they do not.
	a := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n"
	b := "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\nY\n15\nZ\n"
	want := `--- before
+++ after
@@ -1,5 +1,5 @@
 1
-2
+X
 3
 4
 5
@@ -11,5 +11,6 @@
 11
 12
 13
-14
+Y
 15
+Z
`
	if got := UnifiedDiff("before", "after", a, b); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	merged := UnifiedDiff("before", "after", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\nX\n3\n4\n5\n6\n7\n8\nY\n")
	if n := strings.Count(merged, "@@ -"); n != 1 {
		t.Errorf("changes 6 lines apart: %d hunks, want 1:\n%s", n, merged)
	}
	if got := UnifiedDiff("x", "y", a, a); got != "" {
		t.Errorf("equal texts: %q", got)
	}
	// Pure insertion into an empty text and pure deletion.
	if got, want := UnifiedDiff("x", "y", "", "one\ntwo\n"), "--- x\n+++ y\n@@ -0,0 +1,2 @@\n+one\n+two\n"; got != want {
		t.Errorf("insertion: got %q, want %q", got, want)
	}
	if got, want := UnifiedDiff("x", "y", "one\n", ""), "--- x\n+++ y\n@@ -1 +0,0 @@\n-one\n"; got != want {
		t.Errorf("deletion: got %q, want %q", got, want)
	}
}

// TestUnifiedDiffMatchesDiffU compares the hunks with the system's diff -u
// over the demo's real policy change, when diff is installed.
func TestUnifiedDiffMatchesDiffU(t *testing.T) {
	diff, err := exec.LookPath("diff")
	if err != nil {
		t.Skip("no diff command")
	}
	before := IndentJSON([]byte(`{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"},{"Sid":"Events","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"000000000000"}}}]}`))
	after := IndentJSON([]byte(`{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"},{"Sid":"Events","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"},{"Sid":"CW","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}]}`))
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(a, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte(after), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(diff, "-u", "--label", "a", "--label", "b", a, b).Output()
	if got := UnifiedDiff("a", "b", before, after); got != string(out) {
		t.Errorf("ours:\n%s\ndiff -u:\n%s", got, out)
	}
	if !strings.Contains(string(out), "@@") {
		t.Fatalf("diff -u found no difference:\n%s", out)
	}
}
