package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/plan"
	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/rules"
	"github.com/snskeyguard/snskeyguard/shared/trigger"
)

// KeyEditAlert is the JSON message of a key-level announcement: an
// administrator's edit merged back ("merged"), or a fix of the event's
// policy found in place by a retried event and announced again
// ("remediated", Resent).
type KeyEditAlert struct {
	ID       string   `json:"announcementId"`
	Kind     string   `json:"kind"`
	Mode     string   `json:"mode"`
	Key      string   `json:"keyArn"`
	EventID  string   `json:"eventId"`
	Actor    string   `json:"actor"`
	Resent   bool     `json:"resent,omitempty"`
	Restored []string `json:"restoredStatements,omitempty"`
	Changes  []string `json:"changes,omitempty"`
	Topics   []string `json:"topics,omitempty"`
	// Digests of the policies' meaning (policy.Document.Digest): the one
	// the event wrote, the one found, and the one the key is left with.
	EventPolicy string `json:"eventPolicyDigest"`
	Found       string `json:"foundPolicyDigest"`
	Left        string `json:"policyDigest"`
}

// reconcileEdit is key-guard's answer to a PutKeyPolicy event, before the
// usual judgement. It compares the policy the event wrote (E) with the key's
// current one (C), as parsed documents:
//
//   - C is E with the guard's fix applied (the fix of this very event is in
//     place: a retried event whose announcement may have been lost): the
//     "remediated" announcement is sent again with the same id.
//   - statements of E are missing from C because a fix of ours overwrote
//     them (docs/DESIGN.md, "An administrator's edit overwritten by a fix"):
//     E is written back with the fix applied on top, in one PutKeyPolicy
//     held to the same invariants (plan.CheckFixGrid between E and what is
//     written), and a "merged" alert is sent.
//
// Anything else is left to the usual judgement of C.
func (s *session) reconcileEdit(ctx context.Context, target *keyState, req trigger.Request, topics []*topicState) ([]report.Action, error) {
	cur := target.key.Parsed
	if req.EventName != "PutKeyPolicy" || req.Policy == "" || cur == nil || target.key.ARN == "" {
		return nil, nil
	}
	raw := []byte(req.Policy)
	edit, err := policy.Parse(raw)
	if err != nil {
		// KMS accepted it, so it is a policy; one we cannot read is judged as found.
		s.g.log().Warn("the event's policy does not parse; not compared", "key", target.key.ARN, "error", err)
		return nil, nil
	}
	if edit.Equal(cur) {
		return nil, nil
	}
	if err := s.discovery(ctx); err != nil {
		return nil, err
	}
	grants := s.grantsOn(target, edit, raw, topics)
	fixed, err := plan.FixDoc(edit, raw, grants)
	if err != nil {
		s.g.log().Warn("plan on the event's policy", "key", target.key.ARN, "error", err)
		return nil, nil
	}
	want, wantRaw := edit, raw
	if fixed.Changed {
		if want, err = policy.Parse(fixed.Policy); err != nil {
			return nil, nil
		}
		wantRaw = fixed.Policy
	}
	alert := KeyEditAlert{ID: AnnouncementID(target.key.ARN, edit.Digest(), want.Digest()), Mode: s.g.Settings.Mode,
		Key: target.key.ARN, EventID: req.EventID, Actor: req.Actor, Changes: fixed.Summary, Topics: arnsOf(topics),
		EventPolicy: edit.Digest(), Found: cur.Digest(), Left: want.Digest()}
	if fixed.Changed && want.Equal(cur) && s.g.Settings.Mode == ModeRemediate {
		alert.Kind, alert.Resent = "remediated", true
		act, err := s.announceKey(ctx, alert, "KMS key %s: fix announced again")
		return []report.Action{act}, err
	}
	lost := lostStatements(edit, cur, grants)
	if len(lost) == 0 || !hasOwnStatement(cur) || s.g.Settings.Mode != ModeRemediate {
		return nil, nil
	}
	alert.Kind, alert.Restored = "merged", lost
	act := report.Action{Type: report.ActionPutKeyPolicy, KeyARN: target.key.ARN, ID: alert.ID,
		Changes: append([]string{"restore the administrator's statements " + strings.Join(lost, ", ")}, fixed.Summary...)}
	grid := plan.Grid{Account: req.Account, Region: req.Region, KeyARN: target.key.ARN, Grants: grants}
	if len(topics) > 0 {
		grid.TopicARN = topics[0].arn
	}
	if err := plan.CheckFixGrid(grid, raw, wantRaw); err != nil {
		act.Status, act.Detail = report.StatusFailed, "the merge would break a fix invariant; nothing was written: "+err.Error()
		s.g.log().Error("merge refused", "key", target.key.ARN, "error", err)
		return []report.Action{act}, nil
	}
	if err := s.writeMerge(ctx, target, wantRaw, &act); err != nil || act.Status != report.StatusApplied {
		return []report.Action{act}, err
	}
	s.g.log().Info("administrator's edit merged", "key", target.key.ARN, "event", req.EventID, "restored", lost, "announcementId", alert.ID)
	ann, err := s.announceKey(ctx, alert, "KMS key %s: edit merged back")
	return []report.Action{act, ann}, err
}

// writeMerge writes the merged policy as writeKeyPolicy writes a fix: re-read
// (a change since it was read wins: its own event decides), write once, read
// back and confirm.
func (s *session) writeMerge(ctx context.Context, ks *keyState, doc []byte, act *report.Action) error {
	arn := ks.key.ARN
	current, err := s.acct.KeyPolicy(ctx, arn)
	if err != nil {
		return s.g.fault(fmt.Sprintf("get key policy (%s)", arn), err)
	}
	if same, err := policy.Equal(current, ks.key.Policy); err != nil || !same {
		act.Status, act.Detail = report.StatusSkipped, "the key policy changed again before the merge; its own event decides"
		return nil
	}
	if err := s.acct.PutKeyPolicy(ctx, arn, doc); err != nil {
		if s.g.class(err) == ErrRetryable {
			return s.g.fault(fmt.Sprintf("put key policy (%s)", arn), err)
		}
		act.Status, act.Detail = report.StatusFailed, err.Error()
		return nil
	}
	back, err := s.acct.KeyPolicy(ctx, arn)
	if err != nil {
		return s.g.fault(fmt.Sprintf("read back key policy (%s)", arn), err)
	}
	if same, err := policy.Equal(back, doc); err != nil || !same {
		act.Status, act.Detail = report.StatusFailed, "the key policy read back differs from the one written"
		return nil
	}
	setPolicy(&ks.key, back)
	act.Status = report.StatusApplied
	return nil
}

// announceKey publishes a key-level announcement with publish's retries; an
// announcement that cannot be sent fails the invocation with it.
func (s *session) announceKey(ctx context.Context, a KeyEditAlert, subjectFormat string) (report.Action, error) {
	act := report.Action{Type: report.ActionAlert, KeyARN: a.Key, TopicARN: s.g.Settings.AlertTopicARN, Status: report.StatusApplied, ID: a.ID}
	if s.g.Settings.AlertTopicARN == "" {
		act.Status, act.Detail = report.StatusSkipped, "no ALERT_TOPIC_ARN"
		return act, nil
	}
	name := a.Key[strings.LastIndex(a.Key, "/")+1:]
	body, _ := json.MarshalIndent(a, "", "  ")
	ann := Announcement{ID: a.ID, Subject: truncateSubject(fmt.Sprintf(subjectFormat, name) + " [" + a.ID + "]"), Body: string(body),
		Attrs: map[string]string{attrAnnouncementID: a.ID, "kind": a.Kind, "keyArn": a.Key, "mode": a.Mode}}
	if err := s.publish(ctx, ann); err != nil {
		s.g.log().Error("applied change not announced", "key", a.Key, "announcementId", a.ID, "error", err)
		return act, s.unannounced(ctx, []Announcement{ann}, fmt.Errorf("publish alert: %w", err))
	}
	s.g.log().Info("alert", "key", a.Key, "kind", a.Kind, "announcementId", a.ID, "resent", a.Resent)
	return act, nil
}

// grantsOn is what the key's topics need judged on another policy of the key.
func (s *session) grantsOn(ks *keyState, doc *policy.Document, raw []byte, topics []*topicState) []rules.Grant {
	k := ks.key
	k.Policy, k.Parsed = raw, doc
	var gs []rules.Grant
	for _, ts := range topics {
		if ts.gone || ts.exempt != "" {
			continue
		}
		gs = append(gs, rules.Evaluate(s.input(ts, &k)).Grants...)
	}
	return rules.MergeGrants(gs)
}

// lostStatements lists (by Sid, else "#" and position) the statements of the
// event's policy that the current one lacks, leaving out those a fix of ours
// changes on purpose: statements with the guard's own Sid, and statements
// naming a target principal (one the grants need, or one the current
// policy grants through a statement of ours).
func lostStatements(edit, cur *policy.Document, grants []rules.Grant) []string {
	targets := map[string]bool{}
	for _, g := range grants {
		targets[strings.ToLower(strings.TrimSpace(g.Principal))] = true
	}
	for _, st := range cur.Statements {
		if plan.OwnSID(st.Sid) {
			for _, p := range services(st) {
				targets[p] = true
			}
		}
	}
	var lost []string
	for i, st := range edit.Statements {
		if plan.OwnSID(st.Sid) || cur.Has(st) {
			continue
		}
		named := false
		for _, p := range services(st) {
			named = named || targets[p]
		}
		if named {
			continue
		}
		if st.Sid != "" {
			lost = append(lost, st.Sid)
		} else {
			lost = append(lost, fmt.Sprintf("#%d", i+1))
		}
	}
	return lost
}

func services(st *policy.Statement) []string {
	var out []string
	for _, p := range []*policy.Principal{st.Principal, st.NotPrincipal} {
		if p != nil && p.Service != nil {
			for _, v := range p.Service.Items {
				out = append(out, strings.ToLower(strings.TrimSpace(v)))
			}
		}
	}
	return out
}

func hasOwnStatement(doc *policy.Document) bool {
	for _, st := range doc.Statements {
		if plan.OwnSID(st.Sid) {
			return true
		}
	}
	return false
}

func arnsOf(topics []*topicState) []string {
	var out []string
	for _, ts := range topics {
		out = append(out, ts.arn)
	}
	return out
}
