package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// recorderFake is fakeAccount with AWS Config recording its topics: pages of
// size topics, each carrying KmsMasterKeyId and Policy unless noPolicy names
// the topic (Config recorded no policy: SNS must be read).
type recorderFake struct {
	*fakeAccount
	size        int
	noPolicy    map[string]bool
	unavailable bool
	pages       int
	// atPage runs before page n (0-based) is answered.
	atPage func(n int)
}

func (r *recorderFake) RecordedTopics(_ context.Context, token string) ([]rules.Topic, string, error) {
	if r.unavailable {
		return nil, "", unavailableErr{}
	}
	var arns []string
	for a := range r.topics {
		arns = append(arns, a)
	}
	sort.Strings(arns)
	start := 0
	if token != "" {
		if _, err := fmt.Sscanf(token, "p%d", &start); err != nil {
			return nil, "", errors.New("bad token")
		}
	}
	if r.atPage != nil {
		r.atPage(start / r.size)
	}
	r.pages++
	end := min(start+r.size, len(arns))
	var out []rules.Topic
	for _, a := range arns[start:end] {
		t := *r.topics[a]
		t.Tags = map[string]string{}
		if r.noPolicy[a] {
			t.Policy, t.KMSMasterKeyID = nil, ""
		} else if t.Policy == nil {
			t.Policy = []byte(`{"Version":"2012-10-17","Statement":[]}`)
		}
		out = append(out, t)
	}
	next := ""
	if end < len(arns) {
		next = fmt.Sprintf("p%d", end)
	}
	return out, next, nil
}

func recordedGuard(t *testing.T, n int) (*recorderFake, *Guard) {
	t.Helper()
	f := newFake()
	f.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy, "alias/k")
	f.addKey("5678abcd-12ab-34cd-56ef-1234567890ab", defaultPolicy)
	for i := range n {
		ref := "alias/k"
		if i%2 == 1 {
			ref = "5678abcd-12ab-34cd-56ef-1234567890ab"
		}
		f.addTopic(fmt.Sprintf("t%03d", i), ref, `{"Version":"2012-10-17","Statement":[]}`)
	}
	r := &recorderFake{fakeAccount: f, size: 100, noPolicy: map[string]bool{}}
	g := newGuard(f, ModeAlert, "cloudwatch.amazonaws.com")
	g.Settings.AlertTopicARN = ""
	g.Account = func(context.Context, string, string) (Account, error) { return r, nil }
	return r, g
}

// written returns every evaluation written, by topic, failing on a repeat.
func written(t *testing.T, f *fakeAccount) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, b := range f.evaluations {
		for _, e := range b {
			if _, dup := out[e.ResourceID]; dup {
				t.Errorf("evaluation of %s written twice", e.ResourceID)
			}
			out[e.ResourceID] = e.Compliance
		}
	}
	return out
}

func TestSweepTakesTopicsFromConfig(t *testing.T) {
	r, g := recordedGuard(t, 250)
	late := r.topicARN("t007")
	r.noPolicy[late] = true // Config has no policy for it: one GetTopicAttributes
	rep, err := g.HandleConfigEvent(context.Background(), configSweep("token"))
	if err != nil {
		t.Fatal(err)
	}
	if r.pages != 3 || r.calls["ListTopics"] != 0 || r.calls["GetTopicAttributes"] != 1 {
		t.Errorf("pages %d, calls %v: want 3 Config pages, no ListTopics, one GetTopicAttributes", r.pages, r.calls)
	}
	if r.calls["DescribeKey"] != 2 || r.calls["GetKeyPolicy"] != 2 {
		t.Errorf("each key must be read once per sweep, whatever the pages: %v", r.calls)
	}
	got := written(t, r.fakeAccount)
	if len(got) != 250 || got[late] != rules.NonCompliant {
		t.Errorf("%d evaluations written (%s: %s)", len(got), late, got[late])
	}
	var sizes []int
	for _, b := range r.evaluations {
		sizes = append(sizes, len(b))
	}
	if fmt.Sprint(sizes) != "[100 100 50]" {
		t.Errorf("batches %v: one PutEvaluations per page", sizes)
	}
	if rep.Summary == nil || rep.Summary.Topics != 250 || rep.Continued != nil {
		t.Errorf("summary %+v continued %+v", rep.Summary, rep.Continued)
	}
}

func TestSweepListsTopicsWhenConfigCannot(t *testing.T) {
	r, g := recordedGuard(t, 120)
	r.unavailable = true
	if _, err := g.HandleConfigEvent(context.Background(), configSweep("token")); err != nil {
		t.Fatal(err)
	}
	if r.calls["ListTopics"] != 1 || r.calls["GetTopicAttributes"] != 120 || len(written(t, r.fakeAccount)) != 120 {
		t.Errorf("calls %v", r.calls)
	}
	// Config answering with no topic at all: SNS decides too.
	r2, g2 := recordedGuard(t, 0)
	r2.addTopic("only", "alias/k", "")
	r2.fakeAccount.topics = map[string]*rules.Topic{} // Config sees none...
	r2.size = 100
	g2.Account = func(context.Context, string, string) (Account, error) { return r2, nil }
	if _, err := g2.HandleConfigEvent(context.Background(), configSweep("token")); err != nil {
		t.Fatal(err)
	}
	if r2.calls["ListTopics"] != 1 {
		t.Errorf("an empty Config answer did not fall back to ListTopics: %v", r2.calls)
	}
}

// A sweep near its deadline hands the rest over with a cursor; following
// the cursors, every topic is written exactly once, with the same token.
func TestSweepContinuesInAnotherInvocation(t *testing.T) {
	r, g := recordedGuard(t, 530)
	var events [][]byte
	g.Continue = func(_ context.Context, ev []byte) error { events = append(events, ev); return nil }
	// Each invocation has time for two pages: the deadline is moved close
	// after the second page.
	invoke := func(ev []byte) (int, error) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pages := 0
		var dctx context.Context = ctx
		deadline := &deadlineCtx{Context: ctx, at: time.Now().Add(time.Hour)}
		dctx = deadline
		r.atPage = func(int) {
			pages++
			if pages == 2 {
				deadline.at = time.Now().Add(time.Second) // less than sweepReserve
			}
		}
		rep, err := g.HandleConfigEvent(dctx, ev)
		if err != nil {
			return 0, err
		}
		return rep.Summary.Topics, nil
	}
	ev := configSweep("token")
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("the sweep never ends")
		}
		n := len(events)
		if _, err := invoke(ev); err != nil {
			t.Fatal(err)
		}
		if len(events) == n {
			break
		}
		ev = events[len(events)-1]
		var parsed map[string]any
		if err := json.Unmarshal(ev, &parsed); err != nil || parsed["resultToken"] != "token" {
			t.Fatalf("continued event %s: %v", ev, err)
		}
	}
	if len(events) != 2 { // 530 topics, two pages of 100 per invocation: 3 invocations
		t.Errorf("%d continuations, want 2", len(events))
	}
	if got := written(t, r.fakeAccount); len(got) != 530 {
		t.Errorf("%d topics written, want 530", len(got))
	}
	var last struct {
		C SweepCursor `json:"snskeyguardSweep"`
	}
	_ = json.Unmarshal(events[1], &last)
	if last.C.Invocations != 2 || last.C.Topics != 400 {
		t.Errorf("cursor %+v", last.C)
	}
	// Without a way to continue, the invocation fails rather than skip topics.
	g.Continue = nil
	r.evaluations = nil
	if _, err := invoke(configSweep("token")); err == nil {
		t.Error("a sweep that cannot continue reported success")
	}
	// A broken cursor is refused before anything is read.
	bad, _ := withCursor(configSweep("token"), SweepCursor{})
	r.pages = 0
	if _, err := g.HandleConfigEvent(context.Background(), bad); err == nil || r.pages != 0 {
		t.Errorf("bad cursor: %v, %d pages read", err, r.pages)
	}
}

// deadlineCtx is a context whose deadline the test moves.
type deadlineCtx struct {
	context.Context
	at time.Time
}

func (d *deadlineCtx) Deadline() (time.Time, bool) { return d.at, true }
