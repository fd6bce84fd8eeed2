package report

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

func TestSummarizeKeepsNonCompliantFirstAndCounts(t *testing.T) {
	r := New("alert")
	for i := 0; i < 10; i++ {
		c := rules.Compliant
		e := NewEvaluation(fmt.Sprintf("arn:aws:sns:us-east-1:111122223333:t%d", i), c)
		if i%3 == 0 {
			e.Compliance = rules.NonCompliant
			e.Findings = append(e.Findings, rules.Finding{Code: rules.GrantMissing})
		}
		r.Evaluations = append(r.Evaluations, e)
	}
	r.Summarize(5)
	var ids []string
	for _, e := range r.Evaluations {
		ids = append(ids, e.ResourceID[len(e.ResourceID)-2:])
	}
	if want := []string{"t0", "t3", "t6", "t9", "t1"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("kept %v, want %v", ids, want)
	}
	want := &Summary{Topics: 10, Compliance: map[string]int{"COMPLIANT": 6, "NON_COMPLIANT": 4}, Codes: map[string]int{"GRANT_MISSING": 4}, Omitted: 5}
	if !reflect.DeepEqual(r.Summary, want) {
		t.Fatalf("summary %+v", r.Summary)
	}
	one := New("alert")
	one.Evaluations = append(one.Evaluations, NewEvaluation("arn:aws:sns:us-east-1:111122223333:x", rules.Compliant))
	one.Summarize(5)
	if one.Summary != nil {
		t.Fatal("a one-topic report needs no summary")
	}
}
