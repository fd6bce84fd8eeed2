package report

import (
	"fmt"
	"math/rand"
	"reflect"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// A Tally fed page by page gives the report Summarize gives the whole list.
func TestTallyMatchesSummarize(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, n := range []int{0, 1, 2, 5, 10, 11, 37} {
		var all []Evaluation
		for i := range n {
			c := []string{rules.Compliant, rules.NonCompliant, rules.NotApplicable}[rng.Intn(3)]
			e := NewEvaluation(fmt.Sprintf("arn:aws:sns:us-east-1:111122223333:t%d", i), c)
			if c == rules.NonCompliant {
				e.Findings = []rules.Finding{{Code: rules.TopicUnencrypted}}
			}
			all = append(all, e)
		}
		want := Report{Evaluations: append([]Evaluation(nil), all...)}
		want.Summarize(10)
		tl := NewTally(10)
		for i := 0; i < len(all); i += 3 {
			tl.Add(all[i:min(i+3, len(all))]...)
		}
		var got Report
		tl.Fill(&got)
		if len(want.Evaluations) == 0 {
			want.Evaluations = nil
		}
		if len(got.Evaluations) == 0 {
			got.Evaluations = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("n=%d: tally %+v\nsummarize %+v", n, got, want)
		}
	}
}
