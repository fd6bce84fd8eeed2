// Package scan renders what `snskeyguard scan` found in an account: a table a
// person reads, the key-policy diff of each fix, the monthly KMS cost
// estimate, and SARIF for pipelines. It is pure: it renders the guard's own
// report (shared/report), read by the command through the guard and the AWS
// edge; nothing here talks to AWS.
package scan

import (
	"maps"
	"slices"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/cost"
	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// Result is one scan of one account over one or more regions.
type Result struct {
	Account string
	Regions []string
	// Report is the guard's report, the regions' evaluations one after the
	// other (alert mode: fixes planned; remediate: fixes written).
	Report report.Report
	// TopicKeys is each topic's KmsMasterKeyId as the topic names it ("" =
	// unencrypted), by topic ARN, as read by the scan.
	TopicKeys map[string]string
}

// Exit codes of the command, as scanners use them in pipelines.
const (
	ExitCompliant = 0 // no topic is NON_COMPLIANT
	ExitFindings  = 1 // at least one topic is NON_COMPLIANT
	ExitError     = 2 // bad flags, credentials, AWS errors, refused --apply
)

// ExitCode is ExitFindings when any evaluation is NON_COMPLIANT (after an
// applied fix, the compliance of the state the topic was left in).
func ExitCode(rep report.Report) int {
	for _, e := range rep.Evaluations {
		if e.Compliance == rules.NonCompliant {
			return ExitFindings
		}
	}
	return ExitCompliant
}

// Fix is one write the report plans or made: a key's whole policy change (one
// PutKeyPolicy per key, shared by its topics) or a topic moved to another key.
type Fix struct {
	Type     string // report.ActionPutKeyPolicy or report.ActionSetTopicKey
	KeyARN   string
	TopicARN string   // SetTopicAttributes: the topic moved
	Topics   []string // PutKeyPolicy: the topics whose evaluation reports it
	Status   string
	Changes  []string
	Detail   string
	// Before and After are the key policy as read and as the fix writes it.
	Before, After []byte
}

// Fixes lists the report's writes, once each, in report order: key-policy
// changes by key, then re-pointed topics.
func Fixes(rep report.Report) []Fix {
	var keys, moves []Fix
	byKey := map[string]int{}
	for _, e := range rep.Evaluations {
		for _, a := range e.Actions {
			switch a.Type {
			case report.ActionPutKeyPolicy:
				if i, ok := byKey[a.KeyARN]; ok {
					keys[i].Topics = append(keys[i].Topics, e.ResourceID)
					continue
				}
				byKey[a.KeyARN] = len(keys)
				keys = append(keys, Fix{Type: a.Type, KeyARN: a.KeyARN, Topics: []string{e.ResourceID}, Status: a.Status,
					Changes: a.Changes, Detail: a.Detail, Before: a.Before, After: a.After})
			case report.ActionSetTopicKey:
				moves = append(moves, Fix{Type: a.Type, KeyARN: a.KeyARN, TopicARN: e.ResourceID, Status: a.Status, Detail: a.Detail})
			}
		}
	}
	return append(keys, moves...)
}

// Planned is the fixes that --apply would write (status planned).
func Planned(rep report.Report) []Fix {
	var out []Fix
	for _, f := range Fixes(rep) {
		if f.Status == report.StatusPlanned {
			out = append(out, f)
		}
	}
	return out
}

// CostTotal is the monthly KMS estimate summed over the encrypted topics,
// priced from the summed requests.
type CostTotal struct {
	Topics           int
	RequestsPerMonth int64
	USDPerMonth      float64
}

// Cost sums the evaluations' kmsCost.
func Cost(rep report.Report) CostTotal {
	var t CostTotal
	for _, e := range rep.Evaluations {
		if e.KMSCost != nil {
			t.Topics++
			t.RequestsPerMonth += e.KMSCost.RequestsPerMonth
		}
	}
	t.USDPerMonth = cost.USD(t.RequestsPerMonth)
	return t
}

// Merge joins the reports of several regions into one report of the same
// shape: evaluations in region order, API calls added up, and a summary
// over every evaluation (none is left out).
func Merge(mode string, reps []report.Report) report.Report {
	out := report.New(mode)
	calls := map[string]int{}
	var skipped []string
	for _, r := range reps {
		out.Evaluations = append(out.Evaluations, r.Evaluations...)
		for k, v := range r.APICalls {
			calls[k] += v
		}
		if r.Skipped != "" {
			skipped = append(skipped, r.Skipped)
		}
	}
	if len(calls) > 0 {
		out.APICalls = calls
	}
	out.Skipped = strings.Join(skipped, "; ")
	out.Summarize(len(out.Evaluations))
	return out
}

// Codes returns the distinct finding codes of the report, sorted.
func Codes(rep report.Report) []string {
	seen := map[string]bool{}
	for _, e := range rep.Evaluations {
		for _, f := range e.Findings {
			seen[string(f.Code)] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}
