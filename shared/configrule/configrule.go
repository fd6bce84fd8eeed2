// Package configrule shapes the guard's verdicts for AWS Config's
// PutEvaluations: annotations within Config's 256-character limit that name
// the finding codes, and batches within its 100-evaluation limit. It is pure;
// the call itself is made at the AWS edge.
package configrule

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of PutEvaluations.
const (
	MaxAnnotation = 256 // characters in Evaluation.Annotation
	MaxBatch      = 100 // evaluations per call
)

// Compliance types the guard reports.
const (
	Compliant     = "COMPLIANT"
	NonCompliant  = "NON_COMPLIANT"
	NotApplicable = "NOT_APPLICABLE"
)

// Evaluation is one AWS Config evaluation.
type Evaluation struct {
	ResourceType      string
	ResourceID        string
	Compliance        string
	Annotation        string
	OrderingTimestamp time.Time
}

// Annotation names the finding codes, in the order given and without
// repeats, as "CODE_A, CODE_B". When they do not fit in MaxAnnotation bytes
// the tail is replaced by " +N more", so the reader always learns how many
// were left out. Bytes are counted (a stricter bound than characters), so the
// result fits whichever way Config counts.
func Annotation(codes []string) string {
	seen := make(map[string]bool, len(codes))
	var list []string
	for _, c := range codes {
		c = strings.TrimSpace(c)
		if c != "" && !seen[c] {
			seen[c] = true
			list = append(list, c)
		}
	}
	if all := strings.Join(list, ", "); len(all) <= MaxAnnotation {
		return all
	}
	var b strings.Builder
	for i, c := range list {
		rest := len(list) - i - 1
		sep := ""
		if i > 0 {
			sep = ", "
		}
		more := ""
		if rest > 0 {
			more = fmt.Sprintf(" +%d more", rest)
		}
		if b.Len()+len(sep)+len(c)+len(more) <= MaxAnnotation {
			b.WriteString(sep + c)
			continue
		}
		if i == 0 {
			// Not even the first code fits whole: show as much of it as fits.
			return cut(c, MaxAnnotation-len("…")-len(more)) + "…" + more
		}
		return b.String() + fmt.Sprintf(" +%d more", rest+1)
	}
	return b.String()
}

// cut shortens s to at most n bytes on a rune boundary.
func cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Batches splits evals, in order, into groups of at most MaxBatch. Each
// batch has its own capacity, so appending to one never overwrites the next.
func Batches(evals []Evaluation) [][]Evaluation {
	var out [][]Evaluation
	for i := 0; i < len(evals); i += MaxBatch {
		j := min(i+MaxBatch, len(evals))
		out = append(out, evals[i:j:j])
	}
	return out
}

// Validate reports what PutEvaluations would refuse, so that a bad
// evaluation fails here with a clear message instead of failing the batch.
func (e Evaluation) Validate() error {
	var errs []error
	if e.ResourceType == "" || e.ResourceID == "" {
		errs = append(errs, errors.New("missing resource type or id"))
	}
	switch e.Compliance {
	case Compliant, NonCompliant, NotApplicable:
	default:
		errs = append(errs, fmt.Errorf("compliance %q is not %s, %s or %s", e.Compliance, Compliant, NonCompliant, NotApplicable))
	}
	if utf8.RuneCountInString(e.Annotation) > MaxAnnotation {
		errs = append(errs, fmt.Errorf("annotation has %d characters, over %d", utf8.RuneCountInString(e.Annotation), MaxAnnotation))
	}
	if e.OrderingTimestamp.IsZero() {
		errs = append(errs, errors.New("missing ordering timestamp"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("evaluation of %s: %w", e.ResourceID, errors.Join(errs...))
	}
	return nil
}
