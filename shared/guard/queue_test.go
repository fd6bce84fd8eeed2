package guard

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/report"
)

const testQueueURL = "https://sqs.us-east-1.amazonaws.com/111122223333/guard-dead-letters"

// fixPath is one way a fix is set off: an event that makes the guard write
// the key policy of the topic "alarms" (mergeKeyID with olderPolicy, which
// lacks CloudWatch's grant).
type fixPath struct {
	name    string
	eventID string // what the queued announcement names as the event
	run     func(t *testing.T, g *Guard, f *fakeAccount) error
	// resends: a retry of this event re-publishes the announcement with the
	// same id (decision 27: only a PutKeyPolicy event carries the policy).
	resends bool
}

func configChange(arn string) []byte {
	item := map[string]any{"configurationItemCaptureTime": "2026-01-01T00:00:00.000Z", "configurationItemStatus": "OK",
		"resourceType": "AWS::SNS::Topic", "resourceId": arn, "resourceName": "alarms", "ARN": arn, "awsRegion": "us-east-1", "awsAccountId": "111122223333",
		"configuration": map[string]any{"TopicArn": arn}}
	inv, _ := json.Marshal(map[string]any{"configurationItem": item, "notificationCreationTime": "2026-01-01T00:00:01.000Z", "messageType": "ConfigurationItemChangeNotification", "recordVersion": "1.3"})
	b, _ := json.Marshal(map[string]any{"invokingEvent": string(inv), "resultToken": "tok", "eventLeftScope": false,
		"configRuleArn": "arn:aws:config:us-east-1:111122223333:config-rule/config-rule-ab12cd", "configRuleName": "sns-encryption",
		"accountId": "111122223333", "version": "1.0"})
	return b
}

func fixPaths() []fixPath {
	keyARN := "arn:aws:kms:us-east-1:111122223333:key/" + mergeKeyID
	kg := func(raw func(t *testing.T) []byte) func(*testing.T, *Guard, *fakeAccount) error {
		return func(t *testing.T, g *Guard, _ *fakeAccount) error {
			_, err := g.HandleKeyEvent(context.Background(), raw(t))
			return err
		}
	}
	return []fixPath{
		{name: "topic event", eventID: "e1", run: func(t *testing.T, g *Guard, _ *fakeAccount) error {
			_, err := g.HandleTopicEvent(context.Background(), createTopic(t, "alarms"))
			return err
		}},
		{name: "key state event", eventID: "e1", run: kg(func(t *testing.T) []byte {
			return cloudTrail(t, "aws.kms", "EnableKey", adminRole, map[string]any{"keyId": keyARN}, keyARN)
		})},
		{name: "key-guard PutKeyPolicy", eventID: "e1", resends: true, run: kg(func(t *testing.T) []byte {
			return putKeyPolicyEvent(t, keyARN, adminRole, olderPolicy)
		})},
		{name: "Config rule change", run: func(t *testing.T, g *Guard, f *fakeAccount) error {
			_, err := g.HandleConfigEvent(context.Background(), configChange(f.topicARN("alarms")))
			return err
		}},
		{name: "Config rule sweep (SNS listing)", run: func(_ *testing.T, g *Guard, _ *fakeAccount) error {
			_, err := g.HandleConfigEvent(context.Background(), configSweep("tok"))
			return err
		}},
		{name: "Config rule sweep (recorded topics)", run: func(_ *testing.T, g *Guard, f *fakeAccount) error {
			r := &recorderFake{fakeAccount: f, size: 100, noPolicy: map[string]bool{}}
			g.Account = func(context.Context, string, string) (Account, error) { return r, nil }
			_, err := g.HandleConfigEvent(context.Background(), configSweep("tok"))
			return err
		}},
	}
}

func queueWorld(t *testing.T) (*fakeAccount, *Guard) {
	t.Helper()
	f := newFake()
	f.addKey(mergeKeyID, olderPolicy, "alias/shared")
	f.addTopic("alarms", "alias/shared", cwTopicPol)
	g := newGuard(f, ModeRemediate)
	g.Sleep = instant
	g.Settings.AnnounceQueueURL = testQueueURL
	g.Function, g.RequestID = "stack-guard", "req-1"
	return f, g
}

// appliedID is the announcement id of the one key-policy write of a run.
func appliedID(t *testing.T, f *fakeAccount) string {
	t.Helper()
	if len(f.puts) != 1 {
		t.Fatalf("writes %d, want 1", len(f.puts))
	}
	return AnnouncementID("arn:aws:kms:us-east-1:111122223333:key/"+mergeKeyID,
		mustDoc(t, olderPolicy).Digest(), mustDoc(t, string(f.keys[mergeKeyID].Policy)).Digest())
}

// queuedIDs reads the fake queue back as an operator would: the messages
// marked as announcements, by id.
func queuedIDs(t *testing.T, f *fakeAccount) map[string]QueuedAnnouncement {
	t.Helper()
	out := map[string]QueuedAnnouncement{}
	for _, m := range f.queued {
		var q QueuedAnnouncement
		if err := json.Unmarshal([]byte(m.body), &q); err != nil {
			t.Fatalf("queued message is not JSON: %v\n%s", err, m.body)
		}
		if m.queue != testQueueURL || q.Record != QueuedRecord || m.attrs["snskeyguard"] != QueuedRecord ||
			m.attrs[attrAnnouncementID] != q.ID || q.Attrs[attrAnnouncementID] != q.ID {
			t.Fatalf("queued message %+v: want an announcement record on %s, its id in the body and the attributes", m, testQueueURL)
		}
		out[q.ID] = q
	}
	return out
}

// TestUnpublishedAnnouncementIsQueuedOnEveryFixPath: whatever set the fix
// off, an announcement the alert topic refuses on every attempt is written
// to the queue before the invocation fails (retryable, carrying it too),
// and the retry that then finds the key compliant does not lose it.
func TestUnpublishedAnnouncementIsQueuedOnEveryFixPath(t *testing.T) {
	for _, p := range fixPaths() {
		t.Run(p.name, func(t *testing.T) {
			f, g := queueWorld(t)
			f.errs["Publish"] = apiErr("Throttled")
			err := p.run(t, g, f)
			var un *UnannouncedError
			var re *RetryableError
			if !errors.As(err, &un) || !errors.As(err, &re) {
				t.Fatalf("want a retryable UnannouncedError, got %v", err)
			}
			id := appliedID(t, f)
			q := queuedIDs(t, f)
			got, ok := q[id]
			if len(q) != 1 || !ok || f.calls["SendMessage"] != 1 {
				t.Fatalf("queued %v (SendMessage calls %d), want exactly the applied write's id %s", q, f.calls["SendMessage"], id)
			}
			var alert Alert
			if err := json.Unmarshal([]byte(got.Body), &alert); err != nil || alert.ID != id || alert.Kind != "remediated" {
				t.Fatalf("queued message %q is not the remediated alert of %s (%v)", got.Body, id, err)
			}
			if !strings.HasSuffix(got.Subject, "["+id+"]") || got.Function != "stack-guard" || got.RequestID != "req-1" ||
				got.EventID != p.eventID || got.EventName == "" || !strings.Contains(got.PublishError, "Throttled") {
				t.Fatalf("queued record %+v: want the subject with its id, the function, request, event and publish error", got)
			}
			if len(un.Announcements) != 1 || un.Announcements[0].ID != id || len(un.Queued) != 1 || un.Queued[0] != id ||
				!strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "kept in the queue "+testQueueURL) {
				t.Fatalf("error %v (queued %v): want it to carry %s and say where it was kept", err, un.Queued, id)
			}
			if f.calls["Publish"] != publishAttempts {
				t.Fatalf("publish attempts %d, want %d before queueing", f.calls["Publish"], publishAttempts)
			}

			// The retry (alert topic healthy again) finds the key fixed.
			delete(f.errs, "Publish")
			f.queued = nil
			if err := p.run(t, g, f); err != nil {
				t.Fatalf("retry: %v", err)
			}
			resent := 0
			for _, m := range f.published {
				if m.attrs[attrAnnouncementID] == id {
					resent++
				}
			}
			switch {
			case len(f.puts) != 1:
				t.Fatalf("the retry wrote again: %d writes", len(f.puts))
			case p.resends && resent != 1:
				t.Fatalf("a retried PutKeyPolicy event re-sends the announcement: published %+v", f.published)
			case !p.resends && resent != 0:
				t.Fatalf("a retry of this event cannot know the fix was its own, yet re-sent %s", id)
			case len(f.queued) != 0:
				t.Fatalf("the retry queued again: %+v", f.queued)
			}
			// Either way the announcement exists: in the queue (first
			// attempt) and, for PutKeyPolicy, on the topic again with the
			// same id, recognisable as a duplicate.
		})
	}
}

// TestQueueFailureLeavesTheAnnouncementInTheError: when the queue refuses
// too, the invocation's error is the announcement's one copy, and says so.
func TestQueueFailureLeavesTheAnnouncementInTheError(t *testing.T) {
	for _, p := range fixPaths() {
		t.Run(p.name, func(t *testing.T) {
			f, g := queueWorld(t)
			f.errs["Publish"] = apiErr("Throttled")
			f.errs["SendMessage"] = apiErr("InternalFailure")
			err := p.run(t, g, f)
			var un *UnannouncedError
			var re *RetryableError
			if !errors.As(err, &un) || !errors.As(err, &re) {
				t.Fatalf("want a retryable UnannouncedError, got %v", err)
			}
			id := appliedID(t, f)
			if len(f.queued) != 0 || len(un.Queued) != 0 || un.QueueErr == nil || f.calls["SendMessage"] != publishAttempts {
				t.Fatalf("queued %v / %v, queue error %v, SendMessage calls %d", f.queued, un.Queued, un.QueueErr, f.calls["SendMessage"])
			}
			if len(un.Announcements) != 1 || un.Announcements[0].ID != id || !strings.Contains(err.Error(), id) ||
				!strings.Contains(err.Error(), `"kind": "remediated"`) || !strings.Contains(err.Error(), "the others not") {
				t.Fatalf("error %v: want it to carry %s whole and say it is not queued", err, id)
			}
		})
	}
}

// Without ANNOUNCE_QUEUE_URL nothing is queued (the error alone carries
// the announcement), and a published announcement is never queued.
func TestQueueOnlyWhenConfiguredAndNeeded(t *testing.T) {
	f, g := queueWorld(t)
	g.Settings.AnnounceQueueURL = ""
	f.errs["Publish"] = apiErr("Throttled")
	err := fixPaths()[0].run(t, g, f)
	var un *UnannouncedError
	if !errors.As(err, &un) || f.calls["SendMessage"] != 0 || un.Queue != "" || strings.Contains(err.Error(), "queue") {
		t.Fatalf("no queue configured: %v, SendMessage calls %d", err, f.calls["SendMessage"])
	}
	f, g = queueWorld(t)
	if err := fixPaths()[0].run(t, g, f); err != nil || f.calls["SendMessage"] != 0 || len(f.published) != 1 {
		t.Fatalf("published alert: %v, SendMessage calls %d", err, f.calls["SendMessage"])
	}
	// A finding alert (nothing changed) that cannot be published is not an
	// announcement: it is not queued.
	f, g = queueWorld(t)
	g.Settings.Mode = ModeAlert
	f.errs["Publish"] = apiErr("AuthorizationError")
	rep, err := g.HandleTopicEvent(context.Background(), createTopic(t, "alarms"))
	if err != nil || f.calls["SendMessage"] != 0 {
		t.Fatalf("finding alert: %v, SendMessage calls %d", err, f.calls["SendMessage"])
	}
	if last := rep.Evaluations[0].Actions[len(rep.Evaluations[0].Actions)-1]; last.Type != report.ActionAlert || last.Status != report.StatusFailed {
		t.Fatalf("finding alert action %+v", last)
	}
}

// A queued message stays within the queue's message size: the alert's
// message is cut (whole characters) and marked, the rest kept whole.
func TestQueuedMessageFitsTheQueue(t *testing.T) {
	big := strings.Repeat("é\"", maxQueued)
	m := QueuedAnnouncement{Announcement: Announcement{ID: "abc", Subject: "s [abc]", Body: big, Attrs: map[string]string{attrAnnouncementID: "abc"}},
		Function: "f", PublishError: "x"}
	s, err := QueuedMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	var back QueuedAnnouncement
	if err := json.Unmarshal([]byte(s), &back); err != nil {
		t.Fatal(err)
	}
	if len(s) > maxQueued || !back.Truncated || back.ID != "abc" || back.Subject != "s [abc]" || back.Record != QueuedRecord ||
		!strings.HasPrefix(big, back.Body) || len(back.Body) == 0 {
		t.Fatalf("%d bytes, truncated %v, id %q, body %d bytes", len(s), back.Truncated, back.ID, len(back.Body))
	}
	small, _ := QueuedMessage(QueuedAnnouncement{Announcement: Announcement{ID: "abc", Body: "{}"}})
	if strings.Contains(small, "messageTruncated") {
		t.Fatalf("a small message is marked truncated: %s", small)
	}
}

func TestAnnounceQueueURLSetting(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string { return map[string]string{"ANNOUNCE_QUEUE_URL": v}[k] }
	}
	for _, ok := range []string{"", testQueueURL, "https://sqs.eu-west-1.amazonaws.com/111122223333/q.fifo",
		"http://127.0.0.1:4566/000000000000/snskeyguard-dead-letters"} {
		if s, err := SettingsFromEnv(env(ok)); err != nil || s.AnnounceQueueURL != ok {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"arn:aws:sqs:us-east-1:111122223333:q", "sqs.us-east-1.amazonaws.com/111122223333/q",
		"https://sqs.us-east-1.amazonaws.com/q", "https://sqs.us-east-1.amazonaws.com/11112222333/q",
		"https://sqs.us-east-1.amazonaws.com/111122223333/q/extra", "https://sqs.us-east-1.amazonaws.com/111122223333/" + strings.Repeat("q", 81),
		"ftp://host/111122223333/q", "https://sqs.us-east-1.amazonaws.com/111122223333/q?Action=SendMessage"} {
		if _, err := SettingsFromEnv(env(bad)); err == nil || !strings.Contains(err.Error(), "ANNOUNCE_QUEUE_URL") {
			t.Errorf("%q accepted (%v)", bad, err)
		}
	}
	for u, want := range map[string]string{testQueueURL: "us-east-1", "https://eu-west-1.queue.amazonaws.com/1/q": "eu-west-1",
		"https://sqs.cn-north-1.amazonaws.com.cn/111122223333/q": "cn-north-1", "http://127.0.0.1:4566/000000000000/q": ""} {
		if got := QueueRegion(u); got != want {
			t.Errorf("QueueRegion(%s) = %q, want %q", u, got, want)
		}
	}
}

// Announcements are queued with the function's own credentials in the
// queue's Region, never in the member account whose key was fixed.
func TestMemberFixQueuedCentrally(t *testing.T) {
	central, mem := newFake(), newFake()
	mem.account = member
	mem.addKey(mergeKeyID, strings.ReplaceAll(olderPolicy, "111122223333", member), "alias/shared")
	mem.addTopic("alarms", "alias/shared", cwTopicPol)
	g, asked := orgGuard(central, mem, nil)
	g.Settings.Mode, g.Settings.AnnounceQueueURL, g.Sleep = ModeRemediate, "https://sqs.eu-west-1.amazonaws.com/111122223333/dl", instant
	central.errs["Publish"] = apiErr("Throttled")
	_, err := g.HandleTopicEvent(context.Background(), asMember(createTopic(t, "alarms")))
	var un *UnannouncedError
	if !errors.As(err, &un) || len(un.Queued) != 1 || len(central.queued) != 1 || len(mem.queued) != 0 || mem.calls["SendMessage"] != 0 {
		t.Fatalf("err %v; queued central %d, member %d", err, len(central.queued), len(mem.queued))
	}
	if _, cen := g.Settings.Needs(EntryTopicGuard); !slices.Contains(cen, "Enqueue") {
		t.Errorf("Needs(topic-guard) central %v lacks the Enqueue it made", cen)
	}
	found := false
	for _, a := range *asked {
		found = found || a == "/eu-west-1"
	}
	if !found {
		t.Errorf("accounts asked %v: want the own account in the queue's Region", *asked)
	}
}

// A write whose answer is lost (it landed, then the call failed as a
// retryable fault) is read back: the fix in place counts as applied, so it
// is reported and announced now, not left to a retry that would find the key
// compliant and announce nothing. A write that did not land still fails the
// invocation; a terminal refusal is not read back.
func TestWriteWithLostAnswerIsReadBackAndAnnounced(t *testing.T) {
	for _, p := range fixPaths() {
		t.Run(p.name, func(t *testing.T) {
			f, g := queueWorld(t)
			f.lostAnswer = map[string]error{"PutKeyPolicy": apiErr("InternalFailure")}
			if err := p.run(t, g, f); err != nil {
				t.Fatalf("the write landed: %v", err)
			}
			id := appliedID(t, f)
			if len(f.published) == 0 || f.published[len(f.published)-1].attrs[attrAnnouncementID] != id {
				t.Fatalf("published %+v, want the announcement %s", f.published, id)
			}
		})
	}
	f, g := queueWorld(t)
	f.errs["PutKeyPolicy"] = apiErr("InternalFailure")
	err := fixPaths()[0].run(t, g, f)
	var re *RetryableError
	if !errors.As(err, &re) || string(f.keys[mergeKeyID].Policy) != olderPolicy || len(f.published) != 0 || f.calls["GetKeyPolicy"] != 3 {
		t.Fatalf("a write that did not land: %v, policy changed %v, published %d, reads %d (want the read, the re-read and one read back)",
			err, string(f.keys[mergeKeyID].Policy) != olderPolicy, len(f.published), f.calls["GetKeyPolicy"])
	}
	f, g = queueWorld(t)
	f.errs["PutKeyPolicy"] = apiErr("AccessDeniedException")
	if err := fixPaths()[0].run(t, g, f); err != nil || f.calls["GetKeyPolicy"] != 2 {
		t.Fatalf("a refused write: %v, reads %d (no read back)", err, f.calls["GetKeyPolicy"])
	}
}

// The same for a re-point: a SetTopicAttributes whose answer is lost counts
// when the topic's new key reads back.
func TestRepointWithLostAnswerIsReadBack(t *testing.T) {
	f := newFake()
	f.addKey("99999999-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/remediation")
	arn := f.addTopic("plain", "", "")
	g := newGuard(f, ModeRemediate)
	g.Sleep = instant
	g.Settings.RemediationKeyID = "alias/remediation"
	f.lostAnswer = map[string]error{"SetTopicAttributes": apiErr("InternalFailure")}
	rep, err := g.HandleTopicEvent(context.Background(), createTopic(t, "plain"))
	if err != nil {
		t.Fatal(err)
	}
	e := rep.Evaluations[0]
	var st []string
	for _, a := range e.Actions {
		st = append(st, a.Type+":"+a.Status)
	}
	if !slices.Contains(st, "SetTopicAttributes:applied") || !strings.HasSuffix(f.topics[arn].KMSMasterKeyID, "99999999-12ab-34cd-56ef-1234567890ab") ||
		len(f.published) != 1 || f.published[0].attrs["kind"] != "remediated" {
		t.Fatalf("actions %v, topic key %s, published %+v", st, f.topics[arn].KMSMasterKeyID, f.published)
	}
}

// A sweep whose first alert is a finding the alert topic refuses still
// queues the fix of a later topic (the finding is judged again by the
// retry; the fix would not be), and waits out the publish retries once, not
// once per topic.
func TestSweepQueuesFixesAfterAFailedFindingAlert(t *testing.T) {
	f, g := queueWorld(t)
	f.addTopic("aaa-unencrypted", "", "")
	f.addTopic("aab-unencrypted", "", "")
	f.errs["Publish"] = apiErr("Throttled")
	_, err := g.HandleConfigEvent(context.Background(), configSweep("tok"))
	var un *UnannouncedError
	if !errors.As(err, &un) || len(un.Queued) != 1 || un.Queued[0] != appliedID(t, f) {
		t.Fatalf("want the fix queued, got %v", err)
	}
	if f.calls["Publish"] != publishAttempts {
		t.Fatalf("publish attempts %d, want %d (the topic is down after one alert's attempts)", f.calls["Publish"], publishAttempts)
	}
	// Findings alone: the invocation fails, retryable, nothing is queued.
	f, g = queueWorld(t)
	g.Settings.Mode = ModeAlert
	f.errs["Publish"] = apiErr("Throttled")
	_, err = g.HandleConfigEvent(context.Background(), configSweep("tok"))
	var re *RetryableError
	if !errors.As(err, &re) || errors.As(err, &un) || len(f.queued) != 0 {
		t.Fatalf("findings only: %v, queued %d", err, len(f.queued))
	}
}

// A write whose answer is lost and whose read-back fails too may have
// landed: it is announced as unconfirmed, with the id it has if it landed,
// published or else queued, and the invocation fails (retryable) so the
// retry makes sure of it; a retry that finds the key compliant then leaves
// the announcement where it went.
func TestUnconfirmedWriteIsAnnounced(t *testing.T) {
	for _, publishing := range []bool{true, false} {
		f, g := queueWorld(t)
		f.lostAnswer = map[string]error{"PutKeyPolicy": apiErr("InternalFailure")}
		f.beforeGet = func(n int) {
			if n == 3 { // the initial read, the re-read before writing, then the read-back
				f.errs["GetKeyPolicy"] = apiErr("InternalFailure")
				f.failFirst = map[string]int{"GetKeyPolicy": 1}
			}
		}
		if !publishing {
			f.errs["Publish"] = apiErr("Throttled")
		}
		err := fixPaths()[0].run(t, g, f)
		var re *RetryableError
		var un *UnannouncedError
		if !errors.As(err, &re) || errors.As(err, &un) != !publishing {
			t.Fatalf("publishing %v: want a retryable error (UnannouncedError only when not published), got %v", publishing, err)
		}
		id := appliedID(t, f)
		var got []string
		for _, p := range f.published {
			got = append(got, p.attrs["kind"]+" "+p.attrs[attrAnnouncementID])
		}
		for id2 := range queuedIDs(t, f) {
			got = append(got, "queued "+id2)
		}
		want := "unconfirmed " + id
		if !publishing {
			want = "queued " + id
		}
		if len(got) != 1 || got[0] != want {
			t.Fatalf("publishing %v: announcements %v, want [%s]", publishing, got, want)
		}
		f.beforeGet = nil
		delete(f.errs, "Publish")
		if err := fixPaths()[0].run(t, g, f); err != nil || len(f.puts) != 1 {
			t.Fatalf("retry: %v, writes %d (the write had landed)", err, len(f.puts))
		}
	}
}

// A write KMS took whose read-back fails is applied (KMS answered), and is
// reported and announced, not left to a retry that finds the key compliant.
func TestWrittenButNotReadBackIsAnnounced(t *testing.T) {
	for _, p := range fixPaths() {
		t.Run(p.name, func(t *testing.T) {
			f, g := queueWorld(t)
			reads := 0
			f.beforeGet = func(int) {
				// The read back is the first read after the write.
				if len(f.puts) == 1 && reads == 0 {
					reads++
					f.errs["GetKeyPolicy"] = apiErr("InternalFailure")
					f.failFirst = map[string]int{"GetKeyPolicy": 1}
				}
			}
			if err := p.run(t, g, f); err != nil {
				t.Fatalf("the write was taken: %v", err)
			}
			id := appliedID(t, f)
			if reads != 1 || len(f.published) == 0 || f.published[len(f.published)-1].attrs[attrAnnouncementID] != id {
				t.Fatalf("read-back failures %d, published %+v, want the announcement %s", reads, f.published, id)
			}
		})
	}
}
