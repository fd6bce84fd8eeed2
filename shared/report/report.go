// Package report is the JSON every function returns (docs/DESIGN.md "What every
// function returns"): what `sam local invoke` prints and what the tests read.
package report

import (
	"github.com/snskeyguard/snskeyguard/shared/cost"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// Action types and statuses.
const (
	ActionPutKeyPolicy = "PutKeyPolicy"
	ActionSetTopicKey  = "SetTopicAttributes"
	ActionAlert        = "Alert"
	ActionSecurityHub  = "BatchImportFindings"

	StatusPlanned = "planned"
	StatusApplied = "applied"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// ResourceTypeTopic is the AWS Config resource type every evaluation is about.
const ResourceTypeTopic = "AWS::SNS::Topic"

// Report is the result of one invocation.
type Report struct {
	Mode        string       `json:"mode"`
	Skipped     string       `json:"skipped"`
	Evaluations []Evaluation `json:"evaluations"`
	// APICalls counts the AWS calls this invocation made, by Service.Operation.
	APICalls map[string]int `json:"apiCalls,omitempty"`
	// KeyActions are what key-guard did to the key itself, beside any
	// topic: an administrator's overwritten edit merged back, an
	// announcement re-sent.
	KeyActions []Action `json:"keyActions,omitempty"`
	// Summary is set when the report covers several topics.
	Summary *Summary `json:"summary,omitempty"`
	// Continued is set when a sweep handed the rest of its topics to another
	// invocation; the report covers this invocation's topics only.
	Continued *Continuation `json:"continued,omitempty"`
}

// Continuation says how far a sweep that continues elsewhere got.
type Continuation struct {
	Topics      int `json:"topics"`      // judged and written by this and earlier invocations
	Invocations int `json:"invocations"` // invocations so far
}

// Evaluation is the judgement of one topic.
type Evaluation struct {
	ResourceType string          `json:"resourceType"`
	ResourceID   string          `json:"resourceId"`
	Compliance   string          `json:"compliance"`
	Findings     []rules.Finding `json:"findings"`
	Actions      []Action        `json:"actions"`
	KMSCost      *cost.Estimate  `json:"kmsCost,omitempty"`
	// Note explains a NOT_APPLICABLE or a compliance set after a fix.
	Note string `json:"note,omitempty"`
}

// Action is something the guard did or would do.
type Action struct {
	Type     string `json:"type"`
	KeyARN   string `json:"keyArn,omitempty"`
	TopicARN string `json:"topicArn,omitempty"`
	Status   string `json:"status"`
	// Changes summarises a key-policy edit, one line per edit.
	Changes []string `json:"changes,omitempty"`
	Detail  string   `json:"detail,omitempty"`
	// Before and After are a PutKeyPolicy's key policy as read and as the fix
	// writes it. They stay out of the JSON (reports, alerts and logs carry no
	// policy text); the command-line scan shows them as a diff and writes only
	// an After its user confirmed.
	Before []byte `json:"-"`
	After  []byte `json:"-"`
	// ID names an applied write, and the alerts that announce it, stably:
	// a digest of the resource and of its state before and after
	// (docs/DESIGN.md, "Announcements"). A re-sent announcement carries
	// the same ID, so a duplicate is recognisable.
	ID string `json:"announcementId,omitempty"`
}

// New returns an empty report for mode with non-nil slices (so JSON shows []).
func New(mode string) Report {
	return Report{Mode: mode, Evaluations: []Evaluation{}}
}

// NewEvaluation returns an evaluation of a topic with non-nil slices.
func NewEvaluation(topicARN, compliance string) Evaluation {
	return Evaluation{ResourceType: ResourceTypeTopic, ResourceID: topicARN, Compliance: compliance,
		Findings: []rules.Finding{}, Actions: []Action{}}
}

// Summary counts a multi-topic report: evaluations by compliance and
// findings by code. Omitted says how many evaluations were left out of
// Evaluations to keep the response inside Lambda's 6 MB limit (they were
// all reported to AWS Config all the same).
type Summary struct {
	Topics     int            `json:"topics"`
	Compliance map[string]int `json:"compliance"`
	Codes      map[string]int `json:"codes"`
	Omitted    int            `json:"omitted"`
}

// MaxEvaluations is how many evaluations a report returns at most: about
// 500 bytes each keeps a sweep's response far below Lambda's 6 MB limit.
const MaxEvaluations = 1000

// Summarize fills Summary when the report covers several topics and, past
// max evaluations, keeps the non-compliant ones first (in their order) and
// drops the rest, counting them in Omitted.
func (r *Report) Summarize(max int) {
	if len(r.Evaluations) < 2 {
		return
	}
	s := &Summary{Topics: len(r.Evaluations), Compliance: map[string]int{}, Codes: map[string]int{}}
	for _, e := range r.Evaluations {
		s.Compliance[e.Compliance]++
		for _, f := range e.Findings {
			s.Codes[string(f.Code)]++
		}
	}
	if len(r.Evaluations) > max {
		kept := make([]Evaluation, 0, max)
		for _, pass := range []bool{true, false} {
			for _, e := range r.Evaluations {
				if len(kept) == max {
					break
				}
				if (e.Compliance == rules.NonCompliant) == pass {
					kept = append(kept, e)
				}
			}
		}
		s.Omitted = len(r.Evaluations) - len(kept)
		r.Evaluations = kept
	}
	r.Summary = s
}

// Tally summarizes evaluations as they come, page by page, keeping at most
// max non-compliant and max other evaluations: a sweep of any size holds a
// bounded report. Fill gives the report Summarize would have given the
// whole list.
type Tally struct {
	max          int
	n            int
	s            Summary
	nonc, others []Evaluation
	all          []Evaluation // in order, while there are at most max
}

// NewTally keeps at most max evaluations in the report.
func NewTally(max int) *Tally {
	return &Tally{max: max, s: Summary{Compliance: map[string]int{}, Codes: map[string]int{}}}
}

// Add counts evaluations.
func (t *Tally) Add(evals ...Evaluation) {
	for _, e := range evals {
		t.n++
		if t.n <= t.max {
			t.all = append(t.all, e)
		} else {
			t.all = nil
		}
		t.s.Compliance[e.Compliance]++
		for _, f := range e.Findings {
			t.s.Codes[string(f.Code)]++
		}
		if e.Compliance == rules.NonCompliant {
			if len(t.nonc) < t.max {
				t.nonc = append(t.nonc, e)
			}
		} else if len(t.others) < t.max {
			t.others = append(t.others, e)
		}
	}
}

// Topics is how many evaluations were added.
func (t *Tally) Topics() int { return t.n }

// Fill sets r's evaluations and summary.
func (t *Tally) Fill(r *Report) {
	kept := t.all
	if t.n > t.max {
		kept = append([]Evaluation{}, t.nonc...)
		kept = append(kept, t.others[:min(len(t.others), t.max-len(kept))]...)
	}
	r.Evaluations = kept
	if t.n < 2 {
		r.Summary = nil
		return
	}
	s := t.s
	s.Topics = t.n
	if t.n > t.max {
		s.Omitted = t.n - len(kept)
	}
	r.Summary = &s
}
