package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
	"github.com/snskeyguard/snskeyguard/shared/guard"
	"github.com/snskeyguard/snskeyguard/shared/plan"
	"github.com/snskeyguard/snskeyguard/shared/policy"
)

// Both windows of docs/DESIGN.md's "Nothing lost" decisions, under seeded
// faults and with EventBridge/Lambda's retries played out (the template
// gives each event at most 3 attempts: MaximumRetryAttempts 2):
//
//   - edits_overwritten: an administrator's PutKeyPolicy lands between the
//     guard's re-read and its write (so the guard's fix overwrites it); the
//     administrator's own event then reaches key-guard. Counted when the
//     administrator's statement is not in the final policy.
//   - fixes_unannounced: a fix is applied while the alert topic fails. Counted
//     when the applied write's announcement id neither reached the alert
//     topic nor is carried by the last attempt's error (which the dead-letter
//     queue keeps).
const lambdaAttempts = 3

// publishRecorder records the announcement ids SNS accepted (Publish
// returned no error: a Publish whose answer was lost is not counted, which
// only makes the figure stricter).
type publishRecorder struct {
	mu  sync.Mutex
	ids map[string]int
}

type recordingAccount struct {
	guard.Account
	rec *publishRecorder
}

func (a recordingAccount) Publish(ctx context.Context, topic, subject, message string, attrs map[string]string) error {
	err := a.Account.Publish(ctx, topic, subject, message, attrs)
	if err == nil && attrs["announcementId"] != "" {
		a.rec.mu.Lock()
		a.rec.ids[attrs["announcementId"]]++
		a.rec.mu.Unlock()
	}
	return err
}

func (w *world) recordingGuard(rec *publishRecorder) *guard.Guard {
	g, _ := w.guard(guard.ModeRemediate, nil, fastEdge)
	inner := g.Account
	g.Account = func(ctx context.Context, account, region string) (guard.Account, error) {
		a, err := inner(ctx, account, region)
		if err != nil {
			return nil, err
		}
		return recordingAccount{Account: a, rec: rec}, nil
	}
	return g
}

// putKeyPolicyEventWith is an administrator's PutKeyPolicy of pol; with
// withPolicy false the event lacks requestParameters.policy (as if CloudTrail
// had left it out): the test's way to switch the mechanisms off and prove
// that the detectors can fail.
func putKeyPolicyEventWith(pol string, withPolicy bool) []byte {
	params := `{"keyId":"` + keyID + `","policyName":"default","bypassPolicyLockoutSafetyCheck":false}`
	if withPolicy {
		p, _ := json.Marshal(pol)
		params = `{"keyId":"` + keyID + `","policyName":"default","policy":` + string(p) + `,"bypassPolicyLockoutSafetyCheck":false}`
	}
	return cloudTrail("aws.kms", "PutKeyPolicy", params, "null")
}

// deliver invokes like Lambda's asynchronous retries: a failed attempt is
// run again by a new instance, at most lambdaAttempts times; each attempt
// has its own seeded fault schedule. It returns the last outcome.
func deliver(w *world, mk func() *guard.Guard, e entry, raw []byte, seed int64, rules func(attempt int) []emulator.FaultRule) (o outcome, attempts int) {
	for attempts = 1; ; attempts++ {
		w.proxy.Reset(seed*10+int64(attempts), rules(attempts))
		o = invoke(mk(), e, raw)
		w.proxy.Reset(0, nil)
		if o.err == nil || o.panicked != nil || attempts == lambdaAttempts {
			return o, attempts
		}
	}
}

// editRun is one run of the overwritten-edit window; it reports whether the
// administrator's edit is lost at the end.
func editRun(t *testing.T, w *world, seed int64, withPolicy bool) (lost bool) {
	t.Helper()
	w.setPolicy(keyID, []byte(originalPolicy))
	var hookErr error
	w.proxy.Reset(0, nil)
	w.proxy.SetBefore(func(op string, n int, _ []byte) {
		if op == "kms:PutKeyPolicy" && n == 1 {
			hookErr = putDirect(w, []byte(editedPolicy))
		}
	})
	g, _ := w.guard(guard.ModeRemediate, nil, fastEdge)
	first := []entry{topicGuard, keyGuard}[seed%2]
	raw := map[string][]byte{"topic-guard": createTopicEvent(topicARN), "key-guard": putKeyPolicyEvent(keyID)}[first.name]
	o := invoke(g, first, raw)
	w.proxy.SetBefore(nil)
	if hookErr != nil || o.err != nil || o.panicked != nil || !applied(o.rep) {
		t.Fatalf("seed %d: the racing fix: hook %v, run %v %v", seed, hookErr, o.err, o.panicked)
	}
	if same, _ := policy.Equal(w.policy(keyID), []byte(editedPolicy)); same {
		t.Fatalf("seed %d: the edit was not overwritten; the window was missed", seed)
	}
	// The administrator's own event reaches key-guard, under faults.
	mk := func() *guard.Guard { g, _ := w.guard(guard.ModeRemediate, nil, fastEdge); return g }
	ev := putKeyPolicyEventWith(editedPolicy, withPolicy)
	last, attempts := deliver(w, mk, keyGuard, ev, seed, func(int) []emulator.FaultRule { return faultRules })
	var re *guard.RetryableError
	if last.err != nil && errors.As(last.err, &re) {
		// Every attempt failed: the dead-letter queue holds the event, and
		// redriving it is one more delivery (still under faults).
		count(func() { figures.editsDeadLettered++ })
		last, attempts = deliver(w, mk, keyGuard, ev, seed+100000, func(int) []emulator.FaultRule { return faultRules })
	}
	if last.panicked != nil {
		t.Fatalf("seed %d: panic %v", seed, last.panicked)
	}
	final := w.policy(keyID)
	if bad := plan.CheckFix([]byte(originalPolicy), final); bad != nil && !strings.Contains(string(final), "OutsideEdit") {
		t.Errorf("seed %d: invariants %v:\n%s", seed, bad, final)
	}
	if left := fixable(topicARN, ordersPolicy, final, requiredList); left != nil && last.err == nil {
		t.Errorf("seed %d: the fix is incomplete (%v):\n%s", seed, left, final)
	}
	if strings.Contains(string(final), "OutsideEdit") {
		if bad := plan.CheckFix([]byte(editedPolicy), final); bad != nil {
			t.Errorf("seed %d: the merge breaks invariants against the administrator's policy: %v\n%s", seed, bad, final)
		}
	}
	edit, _ := policy.Parse([]byte(`{"Version":"2012-10-17","Statement":[` + outsideEditStatement + `]}`))
	doc, err := policy.Parse(final)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if doc.Has(edit.Statements[0]) {
		return false
	}
	if last.err != nil {
		if !errors.As(last.err, &re) {
			t.Errorf("seed %d: the last attempt's error is not retryable: %v", seed, last.err)
		}
		// Still failing after a redrive: counted, the edit is not in the policy.
	}
	if withPolicy {
		t.Logf("seed %d: edit lost after %d attempts; last error %v; key actions %+v", seed, attempts, last.err, last.rep.KeyActions)
	}
	return true
}

func TestEditsNotOverwritten(t *testing.T) {
	w := newWorld(t, worldSeed())
	if !editRun(t, w, 1, false) {
		t.Fatal("detector: with the event's policy left out (no merge possible), the overwritten edit was not counted")
	}
	// Each run is two invocations and up to three retries: a fifth of
	// RELIABILITY_RUNS (at least 8) keeps make reliability within its timeout.
	n, lost := max(8, runs(24)/5), 0
	if s := os.Getenv("RELIABILITY_EDIT_SEED"); s != "" { // to replay one run
		seed, _ := strconv.Atoi(s)
		editRun(t, w, int64(seed), true)
		return
	}
	for r := range n {
		if editRun(t, w, int64(2000+r), true) {
			lost++
			t.Logf("seed %d: the administrator's edit is lost", 2000+r)
		}
	}
	count(func() { figures.editRuns += n; figures.editsOverwritten += lost })
	if lost > 0 {
		t.Errorf("edits_overwritten=%d in %d runs", lost, n)
	}
}

// announceRun is one run of the unannounced-fix window: the first attempt's
// alert Publish fails always (even seeds) or often (odd seeds); later
// attempts meet the usual fault rates. It returns the applied fixes and how
// many of them were announced nowhere.
func announceRun(t *testing.T, w *world, seed int64, withPolicy bool) (fixes, unannounced, resent int) {
	t.Helper()
	w.setPolicy(keyID, []byte(originalPolicy))
	rec := &publishRecorder{ids: map[string]int{}}
	firstRate := 1.0
	if seed%2 == 1 {
		firstRate = 0.7
	}
	rules := func(attempt int) []emulator.FaultRule {
		if attempt == 1 {
			return []emulator.FaultRule{{Ops: []string{"sns:Publish"}, Rate: firstRate}, {Ops: []string{"kms:PutKeyPolicy"}, Rate: 0.2}, {Ops: []string{"*"}, Rate: 0.05}}
		}
		return faultRules
	}
	writesBefore := emulator.Total(w.proxy.Forwarded(), "kms:PutKeyPolicy")
	last, _ := deliver(w, func() *guard.Guard { return w.recordingGuard(rec) }, keyGuard, putKeyPolicyEventWith(originalPolicy, withPolicy), seed, rules)
	if last.panicked != nil {
		t.Fatalf("seed %d: panic %v", seed, last.panicked)
	}
	final := w.policy(keyID)
	if emulator.Total(w.proxy.Forwarded(), "kms:PutKeyPolicy") == writesBefore {
		return 0, 0, 0
	}
	orig, _ := policy.Parse([]byte(originalPolicy))
	doc, err := policy.Parse(final)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if doc.Equal(orig) {
		return 0, 0, 0 // a write whose answer was lost and that was not redone: nothing changed
	}
	id := guard.AnnouncementID(keyARN, orig.Digest(), doc.Digest())
	rec.mu.Lock()
	sent := rec.ids[id]
	rec.mu.Unlock()
	if sent > 0 {
		return 1, 0, sent - 1
	}
	var un *guard.UnannouncedError
	if errors.As(last.err, &un) {
		for _, a := range un.Announcements {
			if a.ID == id && strings.Contains(last.err.Error(), id) {
				return 1, 0, 0 // the dead-letter queue keeps the announcement
			}
		}
	}
	t.Logf("seed %d: fix %s applied, announced nowhere (last error %v)", seed, id, last.err)
	return 1, 1, 0
}

func TestFixesAnnounced(t *testing.T) {
	w := newWorld(t, worldSeed())
	if _, un, _ := announceRun(t, w, 0, false); un != 1 {
		t.Fatal("detector: with the event's policy left out (no re-send possible), the unannounced fix was not counted")
	}
	// Each run waits out the publish back-off (1.4 s per failed attempt).
	n := max(8, runs(24)/10)
	var fixes, unannounced, resent int
	for r := range n {
		f, u, d := announceRun(t, w, int64(3000+r), true)
		fixes, unannounced, resent = fixes+f, unannounced+u, resent+d
	}
	count(func() {
		figures.announceRuns += n
		figures.announceFixes += fixes
		figures.fixesUnannounced += unannounced
		figures.announceDuplicates += resent
	})
	if unannounced > 0 {
		t.Errorf("fixes_unannounced=%d of %d fixes in %d runs", unannounced, fixes, n)
	}
	if fixes == 0 {
		t.Error("no run applied a fix: the suite measured nothing")
	}
	t.Logf("announce runs=%d fixes=%d unannounced=%d duplicates=%d", n, fixes, unannounced, resent)
}
