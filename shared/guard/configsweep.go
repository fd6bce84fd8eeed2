package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/rules"
	"github.com/snskeyguard/snskeyguard/shared/trigger"
)

// Recorder pages through the topics AWS Config records (shared/awsedge's
// Account implements it). Each topic carries what Config recorded: a nil
// Policy means the access policy must be read from SNS (GetTopicAttributes),
// nil Tags that the tags must be read from SNS when a check needs them. An
// error whose Unavailable() is true means Config cannot answer (no recorder,
// no permission): the sweep lists topics instead.
type Recorder interface {
	RecordedTopics(ctx context.Context, token string) (topics []rules.Topic, next string, err error)
}

// SweepCursor is where a sweep continues: the Config page token of the next
// page to judge (every page before it is judged and its evaluations written
// with the sweep's ResultToken), and how many invocations and topics came
// before. It travels in the re-sent Config event under CursorField.
type SweepCursor struct {
	Token       string `json:"token"`
	Invocations int    `json:"invocations"`
	Topics      int    `json:"topics"`
}

// CursorField is the top-level field of a continued sweep's event.
const CursorField = "snskeyguardSweep"

// sweepReserve is the time a sweep keeps in hand before the function's
// deadline: it starts no page unless this much, and three times its slowest
// page so far, remain.
const sweepReserve = 30 * time.Second

// sweepCursor reads a continued sweep's cursor from the raw event (nil for
// a sweep's first invocation).
func sweepCursor(raw []byte) (*SweepCursor, error) {
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	c, ok := ev[CursorField]
	if !ok {
		return nil, nil
	}
	var cur SweepCursor
	if err := json.Unmarshal(c, &cur); err != nil || cur.Token == "" || cur.Invocations < 1 || cur.Topics < 0 {
		return nil, fmt.Errorf("%s: not a sweep cursor: %s", CursorField, c)
	}
	return &cur, nil
}

// withCursor is raw with its cursor replaced by cur.
func withCursor(raw []byte, cur SweepCursor) ([]byte, error) {
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	c, err := json.Marshal(cur)
	if err != nil {
		return nil, err
	}
	ev[CursorField] = c
	return json.Marshal(ev)
}

// sweep is the Config rule's periodic evaluation of every topic. Where AWS
// Config records AWS::SNS::Topic it judges one Config page at a time (topics,
// keys and policies from Config, SNS only for what Config lacks), writing each
// page's evaluations before the next page, so a sweep holds one page in
// memory and can stop between pages: when the function's remaining time
// runs short it re-sends its event with a cursor (Continue) and the next
// invocation starts at the first page not yet written. Without a recorder,
// or when Config records no topic, it lists topics from SNS in one go.
func (g *Guard) sweep(ctx context.Context, s *session, acct Account, req trigger.Request, raw []byte, rep report.Report) (report.Report, error) {
	cur, err := sweepCursor(raw)
	if err != nil {
		return report.Report{}, err
	}
	rec, ok := acct.(Recorder)
	if !ok {
		if cur != nil {
			return report.Report{}, errors.New("a continued sweep needs AWS Config's recorded topics")
		}
		return g.listSweep(ctx, s, acct, req, rep)
	}
	token := ""
	if cur != nil {
		token = cur.Token
	}
	tally := report.NewTally(report.MaxEvaluations)
	var slowest time.Duration
	for first := true; ; first = false {
		t0 := time.Now()
		topics, next, err := rec.RecordedTopics(ctx, token)
		if err != nil {
			var u unavailable
			if first && cur == nil && errors.As(err, &u) && u.Unavailable() {
				g.log().Info("AWS Config cannot list the topics; listing them from SNS", "reason", err.Error())
				return g.listSweep(ctx, s, acct, req, rep)
			}
			return report.Report{}, g.fault("recorded topics", err)
		}
		if first && cur == nil && len(topics) == 0 && next == "" {
			// Config records no topic here (or none exists): SNS decides.
			return g.listSweep(ctx, s, acct, req, rep)
		}
		evals, err := g.sweepPage(ctx, s, topics)
		if err != nil {
			return report.Report{}, err
		}
		if err := g.putEvaluations(ctx, acct, req, evals); err != nil {
			return report.Report{}, err
		}
		tally.Add(evals...)
		if next == "" {
			break
		}
		token = next
		slowest = max(slowest, time.Since(t0))
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < max(sweepReserve, 3*slowest) {
			done := tally.Topics()
			prev := SweepCursor{}
			if cur != nil {
				prev = *cur
			}
			nc := SweepCursor{Token: next, Invocations: prev.Invocations + 1, Topics: prev.Topics + done}
			if err := g.continueSweep(ctx, raw, nc); err != nil {
				return report.Report{}, err
			}
			rep.Continued = &report.Continuation{Topics: nc.Topics, Invocations: nc.Invocations}
			break
		}
	}
	tally.Fill(&rep)
	return rep, nil
}

// continueSweep hands the rest of the sweep to another invocation.
func (g *Guard) continueSweep(ctx context.Context, raw []byte, cur SweepCursor) error {
	if g.Continue == nil {
		return errors.New("the sweep needs another invocation and the function cannot start one (no Continue)")
	}
	ev, err := withCursor(raw, cur)
	if err != nil {
		return err
	}
	if err := g.Continue(ctx, ev); err != nil {
		return g.fault("continue the sweep in another invocation", err)
	}
	g.log().Info("sweep continues in another invocation", "topicsDone", cur.Topics, "invocations", cur.Invocations)
	return nil
}

// sweepPage judges one page of recorded topics: SNS is read only for what
// Config did not record.
func (g *Guard) sweepPage(ctx context.Context, s *session, topics []rules.Topic) ([]report.Evaluation, error) {
	for _, ks := range s.keys {
		ks.topics = nil // each page plans its own fixes; the keys stay read
	}
	states := make([]*topicState, len(topics))
	err := parallel(ctx, len(topics), func(i int) error {
		t := topics[i]
		if t.Policy == nil {
			ts, err := s.loadTopic(ctx, t.ARN)
			states[i] = ts
			return err
		}
		ts := &topicState{arn: t.ARN, topic: t}
		if key := g.Settings.ExemptTagKey; key != "" {
			if ts.topic.Tags == nil {
				tags, err := s.acct.TopicTags(ctx, t.ARN)
				if err != nil {
					return s.g.fault(fmt.Sprintf("list topic tags (%s)", t.ARN), err)
				}
				ts.topic.Tags = tags
			}
			if _, ok := ts.topic.Tags[key]; ok {
				ts.exempt = fmt.Sprintf("topic %s has the exemption tag %q", t.ARN, key)
			}
		}
		states[i] = ts
		return nil
	})
	if err != nil {
		return nil, err
	}
	evals, err := s.evaluate(ctx, states)
	if err != nil {
		return nil, err
	}
	evals, err = s.alerts(ctx, evals)
	if err != nil {
		return nil, err
	}
	for _, e := range evals {
		g.log().Info("evaluation", "topic", e.ResourceID, "compliance", e.Compliance, "codes", codes(e.Findings), "actions", actionSummary(e.Actions))
	}
	return evals, nil
}

// listSweep is the sweep without Config: every topic from ListTopics, read
// with GetTopicAttributes, judged in one go.
func (g *Guard) listSweep(ctx context.Context, s *session, acct Account, req trigger.Request, rep report.Report) (report.Report, error) {
	arns, err := acct.ListTopics(ctx)
	if err != nil {
		return report.Report{}, g.fault("list topics", err)
	}
	sort.Strings(arns)
	topics, err := s.loadTopics(ctx, arns)
	if err != nil {
		return report.Report{}, err
	}
	return g.evaluateAndReport(ctx, s, acct, req, rep, topics)
}
