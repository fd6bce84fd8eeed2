package guard

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/snskeyguard/snskeyguard/shared/plan"
	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

const (
	mergeKeyID = "1234abcd-12ab-34cd-56ef-1234567890ab"
	// olderPolicy is what the guard read; it needs a fix for CloudWatch.
	olderPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`
	// adminEdit is the statement an administrator adds meanwhile.
	adminEdit  = `{"Sid":"OpsEncrypt","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/ops"},"Action":"kms:Encrypt","Resource":"*"}`
	cwTopicPol = `{"Statement":[{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"SNS:Publish","Resource":"*"}]}`
)

var editedByAdmin = `{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},` + adminEdit + `]}`

func instant(context.Context, time.Duration) error { return nil }

func putKeyPolicyEvent(t *testing.T, keyARN, actor, pol string) []byte {
	return cloudTrail(t, "aws.kms", "PutKeyPolicy", actor, map[string]any{"keyId": keyARN, "policyName": "default", "policy": pol}, keyARN)
}

// overwritten sets up the race's outcome: the guard read olderPolicy, the
// administrator wrote editedByAdmin, then the guard's fix of olderPolicy
// landed on top of it.
func overwritten(t *testing.T) (*fakeAccount, *rules.Key, *Guard) {
	t.Helper()
	f := newFake()
	k := f.addKey(mergeKeyID, olderPolicy, "alias/shared")
	f.addTopic("alarms", "alias/shared", cwTopicPol)
	g := newGuard(f, ModeRemediate)
	g.Sleep = instant
	// The guard's own fix of olderPolicy (through a topic event).
	if _, err := g.HandleTopicEvent(context.Background(), createTopic(t, "alarms")); err != nil || len(f.puts) != 1 {
		t.Fatalf("setting up the fix: %v, %d writes", err, len(f.puts))
	}
	f.puts, f.published = nil, nil
	return f, k, g
}

func alertsOfKind(f *fakeAccount, kind string) []published {
	var out []published
	for _, p := range f.published {
		if p.attrs["kind"] == kind {
			out = append(out, p)
		}
	}
	return out
}

func hasStatement(t *testing.T, pol []byte, stmt string) bool {
	t.Helper()
	doc, err := policy.Parse(pol)
	if err != nil {
		t.Fatal(err)
	}
	one, err := policy.Parse([]byte(`{"Version":"2012-10-17","Statement":[` + stmt + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return doc.Has(one.Statements[0])
}

func TestOverwrittenEditIsMergedOnceAndNeverLoops(t *testing.T) {
	f, k, g := overwritten(t)
	ev := putKeyPolicyEvent(t, k.ARN, adminRole, editedByAdmin)
	rep, err := g.HandleKeyEvent(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.puts) != 1 {
		t.Fatalf("want one PutKeyPolicy (the merge), got %d", len(f.puts))
	}
	if !hasStatement(t, k.Policy, adminEdit) {
		t.Fatalf("the administrator's statement was not restored:\n%s", k.Policy)
	}
	if err := plan.CheckFixGrid(plan.Grid{Account: "111122223333", Region: "us-east-1", KeyARN: k.ARN, Grants: grantsFor(t, g, f, k, editedByAdmin)},
		[]byte(editedByAdmin), k.Policy); err != nil {
		t.Errorf("the merge breaks the fix invariants against the administrator's policy: %v", err)
	}
	merged := alertsOfKind(f, "merged")
	if len(merged) != 1 || merged[0].attrs[attrAnnouncementID] == "" || !strings.Contains(merged[0].body, `"OpsEncrypt"`) {
		t.Fatalf("want one merged alert naming the restored statement, got %+v", f.published)
	}
	if len(rep.KeyActions) != 2 || rep.KeyActions[0].Type != report.ActionPutKeyPolicy || rep.KeyActions[0].Status != report.StatusApplied {
		t.Fatalf("key actions %+v", rep.KeyActions)
	}
	for _, e := range rep.Evaluations {
		if e.Compliance != rules.Compliant {
			t.Errorf("%s left %s", e.ResourceID, e.Compliance)
		}
	}
	// The merge's own CloudTrail event is the guard's: skipped (invariant 7).
	self := putKeyPolicyEvent(t, k.ARN, selfRole, string(k.Policy))
	if rep, err := g.HandleKeyEvent(context.Background(), self); err != nil || rep.Skipped == "" {
		t.Fatalf("own event: %v %+v", err, rep)
	}
	// The administrator's event again (a redelivery): nothing is lost now,
	// so nothing is written; the fix of that policy is in place, so its
	// announcement is re-sent with the same id.
	if _, err := g.HandleKeyEvent(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if len(f.puts) != 1 {
		t.Fatalf("a redelivered event merged again: %d writes", len(f.puts))
	}
	resent := alertsOfKind(f, "remediated")
	if len(resent) != 1 || resent[0].attrs[attrAnnouncementID] != merged[0].attrs[attrAnnouncementID] {
		t.Fatalf("want the announcement re-sent with id %s, got %+v", merged[0].attrs[attrAnnouncementID], resent)
	}
}

// grantsFor is what the key's topics need on a policy.
func grantsFor(t *testing.T, g *Guard, f *fakeAccount, k *rules.Key, pol string) []rules.Grant {
	t.Helper()
	s := g.newSession(f)
	ks, err := s.loadKey(context.Background(), k.ARN)
	if err != nil {
		t.Fatal(err)
	}
	var topics []*topicState
	for arn := range f.topics {
		ts, err := s.loadTopic(context.Background(), arn)
		if err != nil {
			t.Fatal(err)
		}
		topics = append(topics, ts)
	}
	gs := s.grantsOn(ks, mustDoc(t, pol), []byte(pol), topics)
	if len(gs) == 0 {
		t.Fatal("no grants: the test's policy needs a fix")
	}
	return gs
}

func mustDoc(t *testing.T, s string) *policy.Document {
	t.Helper()
	d, err := policy.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// What is not "lost": an administrator's later removal, statements our fix
// changes on purpose, and any difference when no fix of ours is in the policy.
func TestNoMergeWithoutAnOverwrite(t *testing.T) {
	t.Run("current policy has no statement of ours", func(t *testing.T) {
		f := newFake()
		k := f.addKey(mergeKeyID, olderPolicy, "alias/shared")
		g := newGuard(f, ModeRemediate)
		// Someone else (not the guard) removed the statement since.
		if _, err := g.HandleKeyEvent(context.Background(), putKeyPolicyEvent(t, k.ARN, adminRole, editedByAdmin)); err != nil {
			t.Fatal(err)
		}
		if len(f.puts) != 0 || hasStatement(t, k.Policy, adminEdit) {
			t.Fatalf("restored a statement no fix of ours removed: %s", k.Policy)
		}
	})
	t.Run("only statements naming a target principal differ", func(t *testing.T) {
		f, k, g := overwritten(t)
		before := string(k.Policy)
		// The administrator's policy had an unconditioned CloudWatch grant
		// (which our fix replaces); nothing else differs.
		cwOpen := `{"Sid":"CW","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}`
		pol := strings.Replace(olderPolicy, `"Resource":"*"}]}`, `"Resource":"*"},`+cwOpen+`]}`, 1)
		if _, err := g.HandleKeyEvent(context.Background(), putKeyPolicyEvent(t, k.ARN, adminRole, pol)); err != nil {
			t.Fatal(err)
		}
		if len(f.puts) != 0 || string(k.Policy) != before {
			t.Fatalf("merged statements our fix changes on purpose:\n%s", k.Policy)
		}
	})
	t.Run("alert mode writes nothing", func(t *testing.T) {
		f, k, g := overwritten(t)
		g.Settings.Mode = ModeAlert
		if _, err := g.HandleKeyEvent(context.Background(), putKeyPolicyEvent(t, k.ARN, adminRole, editedByAdmin)); err != nil {
			t.Fatal(err)
		}
		if len(f.puts) != 0 || len(alertsOfKind(f, "merged"))+len(alertsOfKind(f, "remediated")) != 0 {
			t.Fatalf("alert mode wrote %d times or announced a change: %+v", len(f.puts), f.published)
		}
	})
}

func TestLostStatements(t *testing.T) {
	cur := mustDoc(t, `{"Version":"2012-10-17","Statement":[{"Sid":"root","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"},`+
		`{"Sid":"AllowSNSPublishersEvents","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}]}`)
	edit := mustDoc(t, `{"Version":"2012-10-17","Statement":[{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"KMS:*","Resource":"*"},`+
		`{"Sid":"AllowSNSPublishersEvents","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*"},`+
		`{"Sid":"shared","Effect":"Allow","Principal":{"Service":["events.amazonaws.com","s3.amazonaws.com"]},"Action":"kms:Decrypt","Resource":"*"},`+
		`{"Sid":"cw","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*"},`+adminEdit+`,`+
		`{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:ScheduleKeyDeletion","Resource":"*"}]}`)
	got := lostStatements(edit, cur, []rules.Grant{{Principal: "cloudwatch.amazonaws.com"}})
	want := []string{"OpsEncrypt", "#6"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("lost = %v, want %v (same meaning is kept; our Sid and target principals are ours to change)", got, want)
	}
}

func TestFailedPublishIsRetriedInTheInvocation(t *testing.T) {
	f := newFake()
	k := f.addKey(mergeKeyID, olderPolicy, "alias/shared")
	f.addTopic("alarms", "alias/shared", cwTopicPol)
	g := newGuard(f, ModeRemediate)
	var waits []time.Duration
	g.Sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	f.errs["Publish"], f.failFirst = apiErr("Throttled"), map[string]int{"Publish": publishAttempts - 1}
	rep, err := g.HandleKeyEvent(context.Background(), putKeyPolicyEvent(t, k.ARN, adminRole, olderPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if f.calls["Publish"] != publishAttempts || len(f.published) != 1 || len(waits) != publishAttempts-1 || waits[1] != 2*waits[0] {
		t.Fatalf("publish calls %d, sent %d, waits %v", f.calls["Publish"], len(f.published), waits)
	}
	id := f.published[0].attrs[attrAnnouncementID]
	if id == "" || !strings.Contains(f.published[0].subject, id) || !strings.Contains(f.published[0].body, id) {
		t.Fatalf("the remediated alert lacks its announcement id: %+v", f.published[0])
	}
	if len(rep.Evaluations) != 1 || rep.Evaluations[0].Actions[0].ID != id {
		t.Fatalf("the report's write does not carry the announcement id %s: %+v", id, rep.Evaluations)
	}
}

func TestUnannouncedFixFailsTheInvocationAndIsReSent(t *testing.T) {
	for _, code := range []string{"Throttled", "AuthorizationError"} {
		t.Run(code, func(t *testing.T) {
			f := newFake()
			k := f.addKey(mergeKeyID, olderPolicy, "alias/shared")
			f.addTopic("alarms", "alias/shared", cwTopicPol)
			g := newGuard(f, ModeRemediate)
			g.Sleep = instant
			f.errs["Publish"] = apiErr(code)
			ev := putKeyPolicyEvent(t, k.ARN, adminRole, olderPolicy)
			_, err := g.HandleKeyEvent(context.Background(), ev)
			var un *UnannouncedError
			var re *RetryableError
			if !errors.As(err, &un) || !errors.As(err, &re) || len(un.Announcements) != 1 {
				t.Fatalf("want a retryable UnannouncedError, got %v", err)
			}
			if len(f.puts) != 1 || f.calls["Publish"] != publishAttempts {
				t.Fatalf("writes %d, publish attempts %d", len(f.puts), f.calls["Publish"])
			}
			ann := un.Announcements[0]
			var body Alert
			if err := json.Unmarshal([]byte(ann.Body), &body); err != nil || body.Kind != "remediated" || body.ID != ann.ID {
				t.Fatalf("carried announcement %+v (%v)", ann, err)
			}
			if !strings.Contains(err.Error(), ann.ID) || !strings.Contains(err.Error(), `"kind": "remediated"`) {
				t.Fatalf("the error message does not carry the announcement: %v", err)
			}
			// The retried event finds the fix in place and re-sends it with the same id.
			delete(f.errs, "Publish")
			rep, err := g.HandleKeyEvent(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.puts) != 1 || len(f.published) != 1 || f.published[0].attrs[attrAnnouncementID] != ann.ID {
				t.Fatalf("retry: writes %d, published %+v, want the id %s", len(f.puts), f.published, ann.ID)
			}
			if len(rep.KeyActions) != 1 || rep.KeyActions[0].ID != ann.ID {
				t.Fatalf("retry report %+v", rep.KeyActions)
			}
		})
	}
}

// A finding alert (nothing was changed) keeps the old behaviour: a terminal
// publish error is reported, not retried by failing the invocation.
func TestFindingAlertTerminalErrorIsReported(t *testing.T) {
	f := newFake()
	k := f.addKey(mergeKeyID, olderPolicy, "alias/shared")
	f.addTopic("alarms", "alias/shared", cwTopicPol)
	g := newGuard(f, ModeAlert)
	g.Sleep = instant
	f.errs["Publish"] = apiErr("AuthorizationError")
	rep, err := g.HandleKeyEvent(context.Background(), putKeyPolicyEvent(t, k.ARN, adminRole, olderPolicy))
	if err != nil {
		t.Fatal(err)
	}
	last := rep.Evaluations[0].Actions[len(rep.Evaluations[0].Actions)-1]
	if last.Type != report.ActionAlert || last.Status != report.StatusFailed || f.calls["Publish"] != publishAttempts {
		t.Fatalf("alert action %+v after %d attempts", last, f.calls["Publish"])
	}
}

// A fix triggered by a topic event: the unsent announcement travels in the
// invocation's error (the dead-letter queue keeps it), with the id the
// report's write carries.
func TestUnannouncedTopicEventFixIsCarriedByTheError(t *testing.T) {
	f := newFake()
	k := f.addKey(mergeKeyID, olderPolicy, "alias/shared")
	f.addTopic("alarms", "alias/shared", cwTopicPol)
	g := newGuard(f, ModeRemediate)
	g.Sleep = instant
	f.errs["Publish"] = apiErr("Throttled")
	_, err := g.HandleTopicEvent(context.Background(), createTopic(t, "alarms"))
	var un *UnannouncedError
	if !errors.As(err, &un) || len(un.Announcements) != 1 || len(f.puts) != 1 {
		t.Fatalf("want the applied fix's announcement in the error, got %v (writes %d)", err, len(f.puts))
	}
	doc := mustDoc(t, string(k.Policy))
	want := AnnouncementID(k.ARN, mustDoc(t, olderPolicy).Digest(), doc.Digest())
	if un.Announcements[0].ID != want || un.Announcements[0].Attrs[attrAnnouncementID] != want || !strings.Contains(err.Error(), want) {
		t.Fatalf("announcement id %s, want %s (key, digest before, digest after)", un.Announcements[0].ID, want)
	}
}
