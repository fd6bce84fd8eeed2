package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/cost"
	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// HubFinding is one finding for AWS Security Hub (the edge turns it into ASFF).
// ID is stable per topic, code and principal, so a repeat updates the same finding.
type HubFinding struct {
	ID          string
	TopicARN    string
	KeyARN      string
	Code        string
	Principal   string
	Title       string
	Description string
	Severity    string // CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL
	Resolved    bool   // fixed or no longer found: workflow RESOLVED
}

// Alert is the JSON message published to ALERT_TOPIC_ARN.
type Alert struct {
	// ID is the announcement id of the change the alert announces (empty
	// for a finding): the same in every re-sent copy.
	ID         string            `json:"announcementId,omitempty"`
	Kind       string            `json:"kind"` // "finding", "remediated" or "merged"
	Mode       string            `json:"mode"`
	Topic      string            `json:"topicArn"`
	Compliance string            `json:"compliance"`
	Findings   []rules.Finding   `json:"findings"`
	Actions    []report.Action   `json:"actions"`
	Cost       *cost.Estimate    `json:"kmsCost,omitempty"`
	Attributes map[string]string `json:"-"`
}

// alerts publishes one message per topic that is still non-compliant, or that
// the guard changed, and imports findings into Security Hub when enabled.
func (s *session) alerts(ctx context.Context, evals []report.Evaluation) ([]report.Evaluation, error) {
	var hub []HubFinding
	var unsent []Announcement
	var lastErr error
	// down is the retryable fault the alert topic answered every attempt of
	// an alert with: the invocation will fail, so later alerts are not tried
	// (a sweep does not wait out the back-off once per topic), and every
	// applied change still goes on to be queued and carried.
	var down error
	for i := range evals {
		e := &evals[i]
		if len(e.Findings) == 0 {
			continue
		}
		kind := ""
		switch {
		case e.Compliance == rules.NonCompliant:
			kind = "finding"
		case applied(e.Actions):
			kind = "remediated"
		}
		if s.g.Settings.SecurityHub {
			hub = append(hub, hubFindings(*e)...)
		}
		if kind == "" || s.g.Settings.AlertTopicARN == "" {
			continue
		}
		subject, body, attrs := alertMessage(s.g.Settings.Mode, kind, *e)
		ann := Announcement{ID: attrs[attrAnnouncementID], Subject: subject, Body: body, Attrs: attrs}
		act := report.Action{Type: report.ActionAlert, TopicARN: s.g.Settings.AlertTopicARN, Status: report.StatusApplied, ID: ann.ID}
		err := down
		if err == nil {
			if err = s.publish(ctx, ann); err != nil && s.g.class(err) == ErrRetryable {
				down = err
			}
		}
		if err != nil {
			if kind == "remediated" {
				// An applied change must be announced: the announcement is
				// queued and the invocation fails with it (docs/DESIGN.md,
				// decisions 26 and 32).
				s.g.log().Error("applied change not announced", "topic", e.ResourceID, "announcementId", ann.ID, "error", err)
				unsent = append(unsent, ann)
				lastErr = err
				continue
			}
			if s.g.class(err) == ErrRetryable {
				// The invocation fails (below); its retry judges this topic
				// again. Applied changes after it are still queued first.
				continue
			}
			act.Status, act.Detail = report.StatusFailed, err.Error()
		}
		s.g.log().Info("alert", "topic", e.ResourceID, "kind", kind, "codes", codes(e.Findings), "status", act.Status)
		e.Actions = append(e.Actions, act)
	}
	if len(unsent) > 0 {
		return nil, s.unannounced(ctx, unsent, fmt.Errorf("publish alert: %w", lastErr))
	}
	if down != nil {
		return nil, s.g.fault("publish alert", down)
	}
	if len(hub) > 0 {
		if err := s.acct.ImportFindings(ctx, hub); err != nil {
			if s.g.class(err) == ErrRetryable {
				return nil, s.g.fault("import Security Hub findings", err)
			}
			s.g.log().Error("import Security Hub findings", "error", err)
		}
	}
	return evals, nil
}

// alertAccount is where alerts are published: the alert topic belongs to the
// function's own account, so a member's event is alerted with the
// function's own credentials (a member role may not publish there), in the
// topic's region (SNS takes Publish only in the topic's region).
func (s *session) alertAccount(ctx context.Context) (Outputs, error) {
	return s.ownAccount(ctx, &s.central, arnRegion(s.g.Settings.AlertTopicARN))
}

// ownAccount returns the function's own account in region, made once into
// *cache for the session.
func (s *session) ownAccount(ctx context.Context, cache *Outputs, region string) (Outputs, error) {
	if *cache == nil {
		a, err := s.g.Account(ctx, "", region)
		if err != nil {
			return nil, err
		}
		*cache = a
	}
	return *cache, nil
}

// arnRegion is the region field of an ARN ("" when there is none).
func arnRegion(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ""
	}
	return parts[3]
}

func applied(acts []report.Action) bool {
	for _, a := range acts {
		if a.Status == report.StatusApplied && a.Type != report.ActionAlert {
			return true
		}
	}
	return false
}

// alertMessage builds a subject a person can read (SNS: at most 100
// characters, one line), a JSON body, and string attributes for filtering.
func alertMessage(mode, kind string, e report.Evaluation) (string, string, map[string]string) {
	name := e.ResourceID
	if i := strings.LastIndex(name, ":"); i >= 0 {
		name = name[i+1:]
	}
	cs := uniqueCodes(e.Findings)
	subject := fmt.Sprintf("SNS topic %s: %s (%s)", name, strings.ToLower(strings.ReplaceAll(e.Compliance, "_", "-")), strings.Join(cs, ", "))
	if kind == "remediated" {
		what := "key policy fixed"
		for _, a := range e.Actions {
			if a.Type == report.ActionSetTopicKey && a.Status == report.StatusApplied {
				what = "moved to the remediation key"
			}
		}
		subject = fmt.Sprintf("SNS topic %s: %s (%s)", name, what, strings.Join(cs, ", "))
	}
	subject = truncateSubject(subject)
	body, _ := json.MarshalIndent(Alert{ID: evaluationID(e), Kind: kind, Mode: mode, Topic: e.ResourceID, Compliance: e.Compliance,
		Findings: e.Findings, Actions: e.Actions, Cost: e.KMSCost}, "", "  ")
	if id := evaluationID(e); id != "" {
		subject = truncateSubject(subject + " [" + id + "]")
	}
	attrs := map[string]string{
		attrAnnouncementID: evaluationID(e),
		"kind":             kind,
		"compliance":       e.Compliance,
		"codes":            strings.Join(cs, ","),
		"topicArn":         e.ResourceID,
		"mode":             mode,
	}
	return subject, string(body), attrs
}

func uniqueCodes(fs []rules.Finding) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range fs {
		if !seen[string(f.Code)] {
			seen[string(f.Code)] = true
			out = append(out, string(f.Code))
		}
	}
	return out
}

var severity = map[rules.Code]string{
	rules.TopicUnencrypted: "MEDIUM", rules.KeyAWSManaged: "LOW", rules.KeyNotSymmetric: "HIGH",
	rules.KeyDisabled: "HIGH", rules.KeyPendingDeletion: "CRITICAL", rules.KeyUnavailable: "HIGH",
	rules.KeyNotFound: "HIGH", rules.KeyAccessDenied: "HIGH", rules.KeyOtherRegion: "HIGH", rules.KeyOtherAccount: "MEDIUM",
	rules.GrantMissing: "HIGH", rules.GrantDenied: "HIGH", rules.ConfusedDeputyMissing: "MEDIUM",
	rules.ConfusedDeputyMismatch: "HIGH", rules.ConfusedDeputyUnsupported: "HIGH", rules.AliasRequired: "MEDIUM",
	rules.PublisherNotGranted: "HIGH", rules.SourceNeedsRole: "MEDIUM", rules.PolicyUnparseable: "HIGH", rules.PolicyTooLarge: "MEDIUM",
}

func hubFindings(e report.Evaluation) []HubFinding {
	var out []HubFinding
	resolved := e.Compliance == rules.Compliant
	for _, f := range e.Findings {
		id := e.ResourceID + "/" + string(f.Code)
		if f.Principal != "" {
			id += "/" + f.Principal
		}
		sev := severity[f.Code]
		if sev == "" {
			sev = "MEDIUM"
		}
		out = append(out, HubFinding{ID: id, TopicARN: e.ResourceID, KeyARN: f.KeyARN, Code: string(f.Code),
			Principal: f.Principal, Title: fmt.Sprintf("SNS topic encryption: %s", f.Code), Description: f.Message,
			Severity: sev, Resolved: resolved})
	}
	return out
}

// attrAnnouncementID is the message attribute carrying the announcement id.
const attrAnnouncementID = "announcementId"

// evaluationID is the announcement id of an evaluation's alert: the id of
// its applied write, or, when several writes were applied (a key fix and a
// re-point), a digest of their ids; "" when nothing was applied.
func evaluationID(e report.Evaluation) string {
	var ids []string
	for _, a := range e.Actions {
		if a.Status == report.StatusApplied && a.Type != report.ActionAlert && a.ID != "" {
			ids = append(ids, a.ID)
		}
	}
	switch len(ids) {
	case 0:
		return ""
	case 1:
		return ids[0]
	}
	return AnnouncementID(e.ResourceID, strings.Join(ids, ","), "")
}

// truncateSubject keeps an SNS subject within 100 characters, keeping a
// trailing announcement id whole.
func truncateSubject(subject string) string {
	if len(subject) <= 100 {
		return subject
	}
	if i := strings.LastIndex(subject, " ["); i >= 0 && strings.HasSuffix(subject, "]") && len(subject)-i < 40 {
		tail := subject[i:]
		return subject[:100-len(tail)-3] + "..." + tail
	}
	return subject[:97] + "..."
}
