package guard

import (
	"context"
	"reflect"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// The scan's sweep: every topic judged, sorted by ARN, nothing written and
// nothing sent in alert mode (no alert topic, no Security Hub, no Config),
// and the planned key-policy action carries the policy as read and as the
// fix would write it.
func TestSweepAlertPlansWithPolicies(t *testing.T) {
	f := newFake()
	k := f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/orders")
	f.addTopic("zeta", "alias/orders", "")
	f.addTopic("alpha", "", "")
	g := newGuard(f, ModeAlert, "cloudwatch.amazonaws.com")
	g.Settings.AlertTopicARN = ""
	rep, err := g.Sweep(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rep.Evaluations {
		got = append(got, e.ResourceID+" "+e.Compliance)
	}
	want := []string{f.topicARN("alpha") + " NON_COMPLIANT", f.topicARN("zeta") + " NON_COMPLIANT"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("evaluations %v, want %v", got, want)
	}
	if len(f.puts) != 0 || len(f.published) != 0 || len(f.evaluations) != 0 || len(f.hub) != 0 {
		t.Fatalf("alert sweep wrote or sent: puts %v published %d config %d hub %d", f.puts, len(f.published), len(f.evaluations), len(f.hub))
	}
	acts := rep.Evaluations[1].Actions
	if len(acts) != 1 || acts[0].Type != report.ActionPutKeyPolicy || acts[0].Status != report.StatusPlanned {
		t.Fatalf("actions %+v", acts)
	}
	if string(acts[0].Before) != defaultPolicy {
		t.Errorf("Before is not the policy read:\n%s", acts[0].Before)
	}
	// After is a valid policy that serves the topic: judged on it, the topic passes.
	fixed := *k
	setPolicy(&fixed, acts[0].After)
	res := rules.Evaluate(rules.Input{Topic: rules.Topic{ARN: f.topicARN("zeta"), KMSMasterKeyID: "alias/orders"}, Key: &fixed,
		Config: rules.Config{RequiredPrincipals: []string{"cloudwatch.amazonaws.com"}}})
	if res.Compliance != rules.Compliant {
		t.Errorf("judged on After: %s %+v\n%s", res.Compliance, res.Findings, acts[0].After)
	}
}

// In remediate mode the sweep writes the same After it planned, once.
func TestSweepRemediateWritesThePlannedPolicy(t *testing.T) {
	f := newFake()
	k := f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/orders")
	f.addTopic("orders", "alias/orders", "")
	g := newGuard(f, ModeAlert, "cloudwatch.amazonaws.com")
	g.Settings.AlertTopicARN = ""
	planned, err := g.Sweep(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	g.Settings.Mode = ModeRemediate
	done, err := g.Sweep(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	a := done.Evaluations[0].Actions[0]
	if a.Status != report.StatusApplied || len(f.puts) != 1 || done.Evaluations[0].Compliance != rules.Compliant {
		t.Fatalf("action %+v puts %v compliance %s", a, f.puts, done.Evaluations[0].Compliance)
	}
	if same, _ := policy.Equal(k.Policy, planned.Evaluations[0].Actions[0].After); !same {
		t.Errorf("written policy differs from the planned After:\n%s", k.Policy)
	}
	if same, _ := policy.Equal(a.After, k.Policy); !same || string(a.Before) != defaultPolicy {
		t.Errorf("applied action's Before/After:\n%s\n%s", a.Before, a.After)
	}
}

func TestSeverityAndHubFindings(t *testing.T) {
	if Severity(rules.KeyPendingDeletion) != "CRITICAL" || Severity(rules.GrantMissing) != "HIGH" || Severity("NO_SUCH_CODE") != "MEDIUM" {
		t.Error("severity labels")
	}
	e := report.NewEvaluation("arn:aws:sns:us-east-1:111122223333:t", rules.NonCompliant)
	e.Findings = []rules.Finding{{Code: rules.GrantMissing, Principal: "cloudwatch.amazonaws.com", Message: "m"}}
	hf := HubFindings(e)
	if len(hf) != 1 || hf[0].ID != "arn:aws:sns:us-east-1:111122223333:t/GRANT_MISSING/cloudwatch.amazonaws.com" || hf[0].Severity != "HIGH" || hf[0].Resolved {
		t.Errorf("hub findings %+v", hf)
	}
}
