package template

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCfnLint runs cfn-lint, AWS's CloudFormation linter, on template.yaml and
// on the StackSet's inner template (which cfn-lint cannot see inside the
// string it is): any error or warning fails. Rules ignored on purpose are
// listed, with their reason, in template.yaml's Metadata. Without cfn-lint the
// test is skipped, except under CI=true, where it fails.
func TestCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cfn-lint is not installed (pip install cfn-lint): CI must lint template.yaml")
		}
		t.Skip("cfn-lint not installed (pip install cfn-lint); CI=true makes this a failure")
	}
	body, _ := obj(obj(obj(rawTemplate(t)["Resources"])["MemberStackSet"])["Properties"])["TemplateBody"].(string)
	if !strings.Contains(body, "AWSTemplateFormatVersion") {
		t.Fatalf("MemberStackSet TemplateBody is not an inline template: %q", body)
	}
	inner := filepath.Join(t.TempDir(), "member-stackset.yaml")
	if err := os.WriteFile(inner, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--format", "parseable", filepath.Join(root, "template.yaml"), inner)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("cfn-lint (exit %v) on template.yaml and the StackSet template:\n%s", err, out)
	}
}
