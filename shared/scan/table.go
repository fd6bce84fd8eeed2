package scan

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// Table writes the readable report: a header naming the account, regions
// and mode, one row per topic (topic, key, compliance, finding codes, what
// the fix does or did), the counts, the monthly KMS cost estimate and the
// key-policy diff of every fix.
func Table(w io.Writer, r Result) error {
	rep := r.Report
	fmt.Fprintf(w, "snskeyguard scan: account %s, %s %s, mode %s\n\n", orDash(r.Account),
		plural(len(r.Regions), "region", "regions"), strings.Join(r.Regions, ","), modeText(rep.Mode))
	multi := len(r.Regions) > 1
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if multi {
		fmt.Fprint(tw, "REGION\t")
	}
	fmt.Fprintln(tw, "TOPIC\tKEY\tCOMPLIANCE\tFINDINGS\tFIX")
	for _, e := range rep.Evaluations {
		if multi {
			fmt.Fprintf(tw, "%s\t", orDash(arnPart(e.ResourceID, 3)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", topicName(e.ResourceID), keyName(r.TopicKeys[e.ResourceID]),
			e.Compliance, findingCodes(e.Findings), fixText(e))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Evaluations) == 0 {
		fmt.Fprintln(w, "(no SNS topics)")
	}
	fmt.Fprintf(w, "\n%s\n", counts(rep))
	c := Cost(rep)
	fmt.Fprintf(w, "KMS cost estimate: %s, %s KMS requests per month, $%.2f per month\n",
		plural(c.Topics, "encrypted topic", "encrypted topics"), thousands(c.RequestsPerMonth), c.USDPerMonth)
	fmt.Fprintln(w, "  (the SNS documentation's formula: a data key per publishing principal every 5 minutes,")
	fmt.Fprintln(w, "   30-day month, $0.03 per 10,000 requests; real costs can be higher)")
	return Diffs(w, r)
}

// Diffs writes every fix: a key-policy change as a unified diff of the policy
// as read and as the fix writes it, a re-pointed topic as its key change.
func Diffs(w io.Writer, r Result) error {
	rep := r.Report
	fixes := Fixes(rep)
	if len(fixes) == 0 {
		_, err := fmt.Fprintln(w, "\nFixes: none")
		return err
	}
	fmt.Fprintf(w, "\nFixes: %d", len(fixes))
	if rep.Mode == "alert" {
		fmt.Fprint(w, " (planned, nothing written; --apply writes them)")
	}
	fmt.Fprintln(w)
	for _, f := range fixes {
		switch f.Type {
		case report.ActionPutKeyPolicy:
			names := make([]string, len(f.Topics))
			for i, t := range f.Topics {
				names[i] = topicName(t)
			}
			fmt.Fprintf(w, "\n# PutKeyPolicy %s for %s: %s%s\n", f.KeyARN, strings.Join(names, ", "), f.Status, detail(f.Detail))
			for _, c := range f.Changes {
				fmt.Fprintf(w, "#   %s\n", c)
			}
			if len(f.After) > 0 {
				fmt.Fprint(w, UnifiedDiff(f.KeyARN+" (current)", f.KeyARN+" (fixed)", IndentJSON(f.Before), IndentJSON(f.After)))
			}
		case report.ActionSetTopicKey:
			fmt.Fprintf(w, "\n# SetTopicAttributes %s: %s%s\n-KmsMasterKeyId: %s\n+KmsMasterKeyId: %s\n",
				f.TopicARN, f.Status, detail(f.Detail), orDash(r.TopicKeys[f.TopicARN]), f.KeyARN)
		}
	}
	return nil
}

func detail(d string) string {
	if d == "" {
		return ""
	}
	return " (" + d + ")"
}

func modeText(mode string) string {
	if mode == "remediate" {
		return "remediate (fixes written)"
	}
	return mode + " (read only)"
}

// counts is the one-line summary: topics by compliance.
func counts(rep report.Report) string {
	n := map[string]int{}
	for _, e := range rep.Evaluations {
		n[e.Compliance]++
	}
	return fmt.Sprintf("%s: %d %s, %d %s, %d %s", plural(len(rep.Evaluations), "topic", "topics"),
		n[rules.Compliant], rules.Compliant, n[rules.NonCompliant], rules.NonCompliant, n[rules.NotApplicable], rules.NotApplicable)
}

// findingCodes shows each finding's code with the service it is about, the
// way the local run's table does: GRANT_MISSING(cloudwatch).
func findingCodes(fs []rules.Finding) string {
	if len(fs) == 0 {
		return "-"
	}
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f.Code)
		if f.Principal != "" {
			out[i] += "(" + strings.TrimSuffix(f.Principal, ".amazonaws.com") + ")"
		}
	}
	return strings.Join(out, " ")
}

// fixText says what the fix does or did for a topic, or why it is not applicable.
func fixText(e report.Evaluation) string {
	var out []string
	for _, a := range e.Actions {
		switch a.Type {
		case report.ActionPutKeyPolicy:
			out = append(out, "key policy "+a.Status)
		case report.ActionSetTopicKey:
			out = append(out, "move to "+keyName(a.KeyARN)+" "+a.Status)
		}
	}
	if len(out) == 0 {
		if e.Note != "" && e.Compliance == rules.NotApplicable {
			return e.Note
		}
		return "-"
	}
	return strings.Join(out, ", ")
}

// topicName is the topic's name, the last field of its ARN.
func topicName(arn string) string {
	if i := strings.LastIndex(arn, ":"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// keyName shortens a key reference for the table: "key/<id>" or
// "alias/<name>" from an ARN, anything else as the topic names it.
func keyName(ref string) string {
	if ref == "" {
		return "-"
	}
	if strings.HasPrefix(ref, "arn:") {
		if res := arnPart(ref, 5); res != "" {
			return res
		}
	}
	return ref
}

// arnPart is field i of an ARN (3 region, 4 account, 5 resource), "" if not an ARN.
func arnPart(arn string, i int) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ""
	}
	return parts[i]
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// thousands writes n with comma separators (17,280).
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
