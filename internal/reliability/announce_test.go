package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

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
//   - fixes_unannounced: a fix is applied while the alert topic fails, on
//     every fix path (topic-guard, key-guard's key-state and PutKeyPolicy
//     events, the Config rule's change and sweep evaluations). Counted when
//     the applied write's announcement id reached neither the alert topic
//     nor the announcement queue (read back from kumo), and is not carried
//     by the error of a last attempt that failed (the on-failure record).
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
	g, _ := w.guard(guard.ModeRemediate, announceLog, fastEdge)
	// The publish back-off, a tenth as long: what is measured is where the
	// announcement ends up, not the waits.
	g.Sleep = func(ctx context.Context, d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d / 10):
			return nil
		}
	}
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

// fixPath is one way a fix is set off. Every path but a PutKeyPolicy event
// that carries the policy finds the key compliant on a retry and cannot
// re-send: there the durable queue is what keeps the announcement.
type fixPath struct {
	name  string
	entry entry
	event func(withPolicy bool) []byte
}

var fixPaths = []fixPath{
	{"topic-guard-CreateTopic", topicGuard, func(bool) []byte { return createTopicEvent(topicARN) }},
	{"key-guard-EnableKey", keyGuard, func(bool) []byte {
		return cloudTrail("aws.kms", "EnableKey", `{"keyId":"`+keyID+`"}`, "null")
	}},
	{"key-guard-PutKeyPolicy", keyGuard, func(withPolicy bool) []byte { return putKeyPolicyEventWith(originalPolicy, withPolicy) }},
	{"config-rule-change", configRule, func(bool) []byte { return configEvent(configChangeInvoking(topicARN)) }},
	{"config-rule-sweep", configRule, func(bool) []byte {
		return configEvent(`{"awsAccountId":"` + acct + `","notificationCreationTime":"2025-03-14T09:26:53.000Z","messageType":"ScheduledNotification","recordVersion":"1.0"}`)
	}},
}

// configEvent is an AWS Config custom-rule event in test mode (kumo has no
// PutEvaluations).
func configEvent(invoking string) []byte {
	b, _ := json.Marshal(map[string]any{"invokingEvent": invoking, "resultToken": "TESTMODE", "eventLeftScope": false,
		"configRuleArn": "arn:aws:config:us-east-1:" + acct + ":config-rule/config-rule-ab12cd", "configRuleName": "sns-encryption",
		"accountId": acct, "version": "1.0"})
	return b
}

func configChangeInvoking(arn string) string {
	item := map[string]any{"configurationItemCaptureTime": "2025-03-14T09:26:53.000Z", "configurationItemStatus": "OK",
		"resourceType": "AWS::SNS::Topic", "resourceId": arn, "resourceName": arn[strings.LastIndex(arn, ":")+1:], "ARN": arn,
		"awsRegion": "us-east-1", "awsAccountId": acct, "configuration": map[string]any{"TopicArn": arn}}
	b, _ := json.Marshal(map[string]any{"configurationItem": item, "notificationCreationTime": "2025-03-14T09:26:54.000Z",
		"messageType": "ConfigurationItemChangeNotification", "recordVersion": "1.3"})
	return string(b)
}

// deadLetters is the announcement queue of the announce suite, created in
// kumo; the guards name it by the URL AWS would give it (kumo finds a queue
// by its URL's path).
const deadLetters = "guard-dead-letters"

// announceWorld is a world whose guards queue unpublished announcements,
// with an SQS client that reads the queue around the fault proxy.
func announceWorld(t *testing.T) (*world, *sqs.Client) {
	t.Helper()
	w := newWorld(t, worldSeed())
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("direct", "direct", "")}
	q := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(w.kumo.URL) })
	if _, err := q.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(deadLetters),
		Attributes: map[string]string{"VisibilityTimeout": "0"}}); err != nil {
		t.Fatal(err)
	}
	w.queue = "https://sqs.us-east-1.amazonaws.com/" + acct + "/" + deadLetters
	return w, q
}

// takeQueued reads and deletes every message of the queue: the count of
// each announcement id among the messages marked as announcements.
func takeQueued(t *testing.T, w *world, q *sqs.Client) map[string]int {
	t.Helper()
	out := map[string]int{}
	if w.queue == "" {
		return out
	}
	for {
		r, err := q.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.queue), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatalf("read the queue: %v", err)
		}
		if len(r.Messages) == 0 {
			return out
		}
		for _, m := range r.Messages {
			var a guard.QueuedAnnouncement
			if json.Unmarshal([]byte(aws.ToString(m.Body)), &a) == nil && a.Record == guard.QueuedRecord && a.ID != "" {
				out[a.ID]++
			}
			if _, err := q.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(w.queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete a message: %v", err)
			}
		}
	}
}

// pathTally is what the runs of one fix path found.
type pathTally struct {
	fixes, unannounced, duplicates int
	// Where each fix's announcement was found: on the alert topic; only in
	// the queue; only in the last attempt's error (every attempt failed: the
	// on-failure record keeps it).
	topic, queueOnly, recordOnly int
	// retryCompliant: an attempt applied the fix and failed to publish, and
	// a later attempt succeeded (it found the key compliant).
	retryCompliant int
}

// announceRun is one run of the unannounced-fix window on one fix path: the
// first attempt's alert Publish fails always (even seeds) or often (odd
// seeds), its writes and every other call sometimes; later attempts meet
// the usual fault rates. It returns what it found about the fix, if one was
// applied.
func announceRun(t *testing.T, w *world, q *sqs.Client, p fixPath, seed int64, withPolicy bool) (r pathTally) {
	t.Helper()
	w.setPolicy(keyID, []byte(originalPolicy))
	takeQueued(t, w, q)
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
	raw := p.event(withPolicy)
	var outcomes []outcome
	for attempt := 1; attempt <= lambdaAttempts; attempt++ {
		w.proxy.Reset(seed*10+int64(attempt), rules(attempt))
		o := invoke(w.recordingGuard(rec), p.entry, raw)
		w.proxy.Reset(0, nil)
		if o.panicked != nil {
			t.Fatalf("%s seed %d: panic %v", p.name, seed, o.panicked)
		}
		outcomes = append(outcomes, o)
		if o.err == nil {
			break
		}
	}
	last := outcomes[len(outcomes)-1]
	orig, _ := policy.Parse([]byte(originalPolicy))
	doc, err := policy.Parse(w.policy(keyID))
	if err != nil {
		t.Fatalf("%s seed %d: %v", p.name, seed, err)
	}
	queued := takeQueued(t, w, q)
	if doc.Equal(orig) {
		return r // nothing changed
	}
	r.fixes = 1
	id := guard.AnnouncementID(keyARN, orig.Digest(), doc.Digest())
	rec.mu.Lock()
	sent := rec.ids[id]
	rec.mu.Unlock()
	carried := func(o outcome) bool {
		var un *guard.UnannouncedError
		if !errors.As(o.err, &un) {
			return false
		}
		for _, a := range un.Announcements {
			if a.ID == id && strings.Contains(o.err.Error(), id) {
				return true
			}
		}
		return false
	}
	for _, o := range outcomes[:len(outcomes)-1] {
		if carried(o) && last.err == nil {
			r.retryCompliant = 1
		}
	}
	switch {
	case sent > 0:
		r.topic, r.duplicates = 1, sent-1+queued[id]
	case queued[id] > 0:
		r.queueOnly, r.duplicates = 1, queued[id]-1
	case last.err != nil && carried(last):
		r.recordOnly = 1 // every attempt failed: the on-failure record keeps it
	default:
		r.unannounced = 1
		var errs []string
		for _, o := range outcomes {
			errs = append(errs, fmt.Sprint(o.err))
		}
		t.Logf("%s seed %d: fix %s applied, announced nowhere (attempts' errors: %s)", p.name, seed, id, strings.Join(errs, " | "))
	}
	return r
}

// announceLog, when set, receives the guards' logs (one replayed run).
var announceLog *slog.Logger

func TestFixesAnnounced(t *testing.T) {
	if v := os.Getenv("RELIABILITY_ANNOUNCE_SEED"); v != "" { // "<path>:<seed>", to replay one run with its logs
		name, seed, _ := strings.Cut(v, ":")
		n, _ := strconv.Atoi(seed)
		for _, p := range fixPaths {
			if p.name == name {
				announceLog = slog.New(slog.NewTextHandler(os.Stderr, nil))
				defer func() { announceLog = nil }()
				w, q := announceWorld(t)
				t.Logf("%+v", announceRun(t, w, q, p, int64(n), true))
				return
			}
		}
		t.Fatalf("no fix path %q", name)
	}
	// Detector: without the queue, a topic event whose first attempt fixes
	// the key and cannot announce, and whose retry finds it compliant,
	// loses the announcement; with the queue it is kept.
	for _, queue := range []bool{false, true} {
		w, q := announceWorld(t)
		if !queue {
			w.queue = ""
		}
		p := fixPaths[0]
		w.setPolicy(keyID, []byte(originalPolicy))
		rec := &publishRecorder{ids: map[string]int{}}
		w.proxy.Reset(1, []emulator.FaultRule{{Ops: []string{"sns:Publish"}, Rate: 1}})
		first := invoke(w.recordingGuard(rec), p.entry, p.event(true))
		w.proxy.Reset(0, nil)
		retry := invoke(w.recordingGuard(rec), p.entry, p.event(true))
		doc, _ := policy.Parse(w.policy(keyID))
		orig, _ := policy.Parse([]byte(originalPolicy))
		id := guard.AnnouncementID(keyARN, orig.Digest(), doc.Digest())
		if first.err == nil || retry.err != nil || doc.Equal(orig) || rec.ids[id] != 0 {
			t.Fatalf("detector setup (queue %v): first %v, retry %v, fixed %v, published %d", queue, first.err, retry.err, !doc.Equal(orig), rec.ids[id])
		}
		if got := takeQueued(t, w, q)[id]; (got == 1) != queue {
			t.Fatalf("detector (queue %v): the announcement is in the queue %d times", queue, got)
		}
	}

	n := max(8, runs(24)/5)
	var mu sync.Mutex
	tally := map[string]*pathTally{}
	t.Run("paths", func(t *testing.T) {
		for pi, p := range fixPaths {
			t.Run(p.name, func(t *testing.T) {
				t.Parallel()
				w, q := announceWorld(t)
				var pt pathTally
				for r := range n {
					got := announceRun(t, w, q, p, int64(3000+1000*pi+r), true)
					pt.fixes += got.fixes
					pt.unannounced += got.unannounced
					pt.duplicates += got.duplicates
					pt.topic += got.topic
					pt.queueOnly += got.queueOnly
					pt.recordOnly += got.recordOnly
					pt.retryCompliant += got.retryCompliant
				}
				mu.Lock()
				tally[p.name] = &pt
				mu.Unlock()
				if pt.unannounced > 0 {
					t.Errorf("%s: fixes_unannounced=%d of %d fixes in %d runs", p.name, pt.unannounced, pt.fixes, n)
				}
				if pt.fixes == 0 {
					t.Errorf("%s: no run applied a fix: the path measured nothing", p.name)
				}
				t.Logf("%s: runs=%d fixes=%d unannounced=%d topic=%d queue_only=%d record_only=%d retry_found_compliant=%d duplicates=%d",
					p.name, n, pt.fixes, pt.unannounced, pt.topic, pt.queueOnly, pt.recordOnly, pt.retryCompliant, pt.duplicates)
			})
		}
	})
	count(func() {
		if figures.announcePaths == nil {
			figures.announcePaths = map[string]*pathTally{}
		}
		for name, pt := range tally {
			figures.announceRuns += n
			figures.announceFixes += pt.fixes
			figures.fixesUnannounced += pt.unannounced
			figures.announceDuplicates += pt.duplicates
			figures.announcePaths[name] = pt
		}
	})
	for _, p := range fixPaths {
		if pt := tally[p.name]; pt != nil && !strings.HasPrefix(p.name, "key-guard-PutKeyPolicy") && pt.queueOnly == 0 {
			t.Errorf("%s: no announcement was kept by the queue alone: the runs never reached the window", p.name)
		}
	}
}

func sortedNames(m map[string]*pathTally) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
