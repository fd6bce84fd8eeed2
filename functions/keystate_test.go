package functions_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
)

// The key events only say which key to look at; once the key really is
// disabled or scheduled for deletion in the emulator, key-guard reports
// KEY_DISABLED / KEY_PENDING_DELETION for its topics, with the KMS error
// SNS publishers then get, and never "fixes" them (remediate mode).
func TestKeyStateEventsReportTheRealState(t *testing.T) {
	r := newRig(t, "remediate", nil)
	ctx := t.Context()
	if _, err := r.demo.KMS.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(emulator.DemoOrdersKeyID)}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.demo.KMS.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(emulator.DemoEventsKeyID), PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	before := r.demoState()
	for file, want := range map[string]struct{ code, kmsError string }{
		"key-guard-DisableKey-orders.json":          {"KEY_DISABLED", "KMSDisabledException"},
		"key-guard-ScheduleKeyDeletion-events.json": {"KEY_PENDING_DELETION", "KMSInvalidStateException"},
	} {
		rep := r.invoke(file)
		if len(rep.Evaluations) == 0 {
			t.Fatalf("%s: no evaluation: %+v", file, rep)
		}
		for _, e := range rep.Evaluations {
			var codes []string
			found := false
			for _, f := range e.Findings {
				codes = append(codes, f.Code)
				if f.Code == want.code {
					found = true
					if f.Fixable || !strings.Contains(f.Message, want.kmsError) {
						t.Errorf("%s: %s finding %+v", file, want.code, f)
					}
				}
			}
			if e.Compliance != "NON_COMPLIANT" || !found {
				t.Errorf("%s: %s %s %v, want %s", file, r.name(e.ResourceID), e.Compliance, codes, want.code)
			}
			for _, a := range e.Actions {
				if a.Type == "PutKeyPolicy" && a.Status == "applied" {
					t.Errorf("%s: wrote the policy of an unusable key", file)
				}
			}
		}
	}
	after := r.demoState()
	b, _ := json.Marshal(before)
	a, _ := json.Marshal(after)
	if string(a) != string(b) {
		t.Errorf("state changed:\nbefore %s\nafter  %s", b, a)
	}
}

// With SECURITY_HUB=true every finding is imported in ASFF with a stable id
// (topic ARN / code / principal), so a repeat updates rather than duplicates.
func TestSecurityHubFindings(t *testing.T) {
	r := newRig(t, "alert", map[string]string{"SECURITY_HUB": "true"})
	r.invoke("topic-guard-SetTopicAttributes-alarms-key.json")
	r.invoke("topic-guard-SetTopicAttributes-alarms-key.json")
	ids := r.stack.SecurityHub.FindingIDs()
	slices.Sort(ids)
	topic := emulator.DemoTopicARN("alarms")
	want := []string{topic + "/GRANT_MISSING/cloudwatch.amazonaws.com", topic + "/GRANT_MISSING/events.amazonaws.com"}
	if !slices.Equal(ids, want) {
		t.Fatalf("Security Hub finding ids %v, want %v", ids, want)
	}
	if n := len(r.stack.SecurityHub.Imports()); n != 2 {
		t.Fatalf("%d imports, want one per invocation (2)", n)
	}
	var f struct {
		Severity struct{ Label string }
		Workflow struct{ Status string }
		Types    []string
	}
	if err := json.Unmarshal(r.stack.SecurityHub.Findings()[want[0]], &f); err != nil {
		t.Fatal(err)
	}
	if f.Severity.Label != "HIGH" || f.Workflow.Status == "RESOLVED" {
		t.Fatalf("finding %+v", f)
	}
}
