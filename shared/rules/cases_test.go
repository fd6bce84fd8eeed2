package rules_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/internal/rulecase"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// Defaults keep the case files short: a topic in 111122223333/us-east-1
// encrypted with a symmetric, enabled, customer managed key of the same
// account that has an alias.
const (
	defTopicARN = rulecase.TopicARN
	defKeyARN   = rulecase.KeyARN
)

// caseFile is one corpus case (internal/rulecase reads the format).
type caseFile = rulecase.Case

func input(t testing.TB, c *caseFile) rules.Input {
	t.Helper()
	in, err := c.Input("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// label names a finding in case files: "CODE" or "CODE principal".
func label(f rules.Finding) string {
	if f.Principal == "" {
		return string(f.Code)
	}
	return string(f.Code) + " " + f.Principal
}

func loadCases(t testing.TB) []*caseFile {
	t.Helper()
	cases, err := rulecase.Load("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

// checkResult asserts the exact finding multiset, fixability, uncertainty and
// the other fields a case pins.
func checkResult(t *testing.T, c *caseFile, r rules.Result) {
	t.Helper()
	var got []string
	for _, f := range r.Findings {
		got = append(got, label(f))
	}
	want := append([]string(nil), c.Want.Codes...)
	sort.Strings(want)
	gs := append([]string(nil), got...)
	sort.Strings(gs)
	if strings.Join(gs, "|") != strings.Join(want, "|") {
		t.Fatalf("codes = %q, want %q\nfindings: %s", gs, want, dump(r.Findings))
	}
	if r.Compliance != c.Want.Compliance {
		t.Errorf("compliance = %s, want %s", r.Compliance, c.Want.Compliance)
	}
	if r.Findings == nil {
		t.Error("Findings is nil")
	}
	uncertain := map[string]bool{}
	for _, u := range c.Want.Uncertain {
		uncertain[u] = true
	}
	for _, f := range r.Findings {
		l := label(f)
		if f.Fixable != c.Want.Fixable[l] {
			t.Errorf("%s: fixable = %v, want %v (%s)", l, f.Fixable, c.Want.Fixable[l], f.Message)
		}
		if f.Uncertain != uncertain[l] {
			t.Errorf("%s: uncertain = %v, want %v", l, f.Uncertain, uncertain[l])
		}
		if f.Message == "" {
			t.Errorf("%s: empty message", l)
		}
		if want, ok := c.Want.Messages[l]; ok && !strings.Contains(f.Message, want) {
			t.Errorf("%s: message %q does not contain %q", l, f.Message, want)
		}
		if f.Code != rules.TopicUnencrypted && f.KeyARN == "" {
			t.Errorf("%s: no KeyARN", l)
		}
	}
	for l := range c.Want.Messages {
		if !contains(got, l) {
			t.Errorf("messages name %s, which is not a finding", l)
		}
	}
	for l := range c.Want.Fixable {
		if !contains(got, l) {
			t.Errorf("fixable names %s, which is not a finding", l)
		}
	}
	if r.Repoint != c.Want.Repoint {
		t.Errorf("repoint = %v, want %v", r.Repoint, c.Want.Repoint)
	}
	if c.Want.Publishers != 0 && r.Publishers != c.Want.Publishers {
		t.Errorf("publishers = %d, want %d", r.Publishers, c.Want.Publishers)
	}
	if r.Publishers < 1 {
		t.Errorf("publishers = %d, want >= 1", r.Publishers)
	}
	if c.Want.Grants != nil {
		g, _ := json.Marshal(r.Grants)
		w, _ := json.Marshal(*c.Want.Grants)
		if len(*c.Want.Grants) == 0 && len(r.Grants) == 0 {
			g, w = nil, nil
		}
		if string(g) != string(w) {
			t.Errorf("grants = %s, want %s", g, w)
		}
	}
	// Every fixable principal finding has exactly its grant, and no other grant exists.
	fixable := map[string]bool{}
	for _, f := range r.Findings {
		if f.Fixable && f.Principal != "" {
			fixable[f.Principal] = true
		}
	}
	if len(r.Grants) != len(fixable) {
		t.Errorf("grants %v for fixable principals %v", r.Grants, fixable)
	}
	for _, g := range r.Grants {
		if !fixable[g.Principal] {
			t.Errorf("grant for %s, which has no fixable finding", g.Principal)
		}
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func TestCases(t *testing.T) {
	cases := loadCases(t)
	if len(cases) < 40 {
		t.Fatalf("corpus has %d cases, want at least 40", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			r := rules.Evaluate(input(t, c))
			checkResult(t, c, r)
			// Judging is deterministic, findings included.
			if again := rules.Evaluate(input(t, c)); dump(again) != dump(r) {
				t.Errorf("second evaluation differs:\n%s\n%s", dump(r), dump(again))
			}
		})
	}
}

// TestCorpusCoversEveryCode keeps the corpus honest: every code Evaluate can
// emit is asserted by some case, compliant cases included.
func TestCorpusCoversEveryCode(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range loadCases(t) {
		for _, l := range c.Want.Codes {
			seen[strings.Fields(l)[0]] = true
		}
		if c.Want.Compliance == rules.Compliant {
			seen["COMPLIANT"] = true
		}
	}
	for _, code := range []rules.Code{rules.TopicUnencrypted, rules.KeyAWSManaged, rules.KeyNotSymmetric, rules.KeyDisabled,
		rules.KeyPendingDeletion, rules.KeyUnavailable, rules.KeyNotFound, rules.KeyAccessDenied, rules.KeyOtherRegion,
		rules.KeyOtherAccount, rules.GrantMissing, rules.GrantDenied, rules.ConfusedDeputyMissing, rules.ConfusedDeputyMismatch,
		rules.ConfusedDeputyUnsupported, rules.AliasRequired, rules.PublisherNotGranted, rules.SourceNeedsRole,
		rules.PolicyUnparseable, "COMPLIANT"} {
		if !seen[string(code)] {
			t.Errorf("no case asserts %s", code)
		}
	}
}

func compact(s string) string {
	var b strings.Builder
	inStr := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' && (i == 0 || s[i-1] != '\\') {
			inStr = !inStr
		}
		if !inStr && (c == ' ' || c == '\n' || c == '\t') {
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
