// Package report is the JSON every function returns (DESIGN.md "What every
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
}

// New returns an empty report for mode with non-nil slices (so JSON shows []).
func New(mode string) Report {
	return Report{Mode: mode, Evaluations: []Evaluation{}}
}

// Skip returns a report for an event ignored as a whole.
func Skip(mode, why string) Report {
	r := New(mode)
	r.Skipped = why
	return r
}

// NewEvaluation returns an evaluation of a topic with non-nil slices.
func NewEvaluation(topicARN, compliance string) Evaluation {
	return Evaluation{ResourceType: ResourceTypeTopic, ResourceID: topicARN, Compliance: compliance,
		Findings: []rules.Finding{}, Actions: []Action{}}
}
