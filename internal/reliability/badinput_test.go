package reliability

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
	"github.com/snskeyguard/snskeyguard/shared/guard"
	"github.com/snskeyguard/snskeyguard/shared/plan"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// writeOps are the calls that change AWS state or send something out; a bad
// input must cause none of them.
var writeOps = []string{"kms:PutKeyPolicy", "sns:SetTopicAttributes", "sns:Publish", "config:PutEvaluations",
	"securityhub:BatchImportFindings"}

func writesIn(forwarded map[string]int) int {
	n := 0
	for _, op := range writeOps {
		n += emulator.Total(forwarded, op+" ")
	}
	return n
}

// expectations reads a tab-separated file: name, outcome, detail.
func expectations(t *testing.T, path string) map[string][2]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][2]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := strings.SplitN(line, "\t", 3)
		if len(p) != 3 {
			t.Fatalf("%s: bad line %q", path, line)
		}
		out[p[0]] = [2]string{p[1], p[2]}
	}
	return out
}

// TestBadEvents sends every malformed or odd event of shared/trigger's corpus
// through all three entry points of a remediating guard whose key needs a
// fix: each must give an error (so the event reaches the dead-letter queue)
// or a skip, never a panic, never a write.
// The corpus sizes the README reports: a lost file, or a glob that matches
// nothing, fails the suite instead of letting it pass on fewer inputs.
const minBadEvents, minBadPolicies, minOddPolicies = 118, 43, 12

func TestBadEvents(t *testing.T) {
	var dir = filepath.Join("..", "..", "shared", "trigger", "testdata", "bad")
	want := expectations(t, filepath.Join(dir, "EXPECT.tsv"))
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) < minBadEvents || len(files) != len(want) {
		t.Fatalf("%d bad events (at least %d), %d expectations", len(files), minBadEvents, len(want))
	}
	w := newWorld(t, worldSeed())
	g, _ := w.guard(guard.ModeRemediate, nil, fastEdge)
	errs, skips := 0, 0
	for _, f := range files {
		name := filepath.Base(f)
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Its own decoder gives EXPECT.tsv's outcome; the others error or skip.
		own := map[bool][]string{true: {configRule.name}, false: {topicGuard.name, keyGuard.name}}[strings.HasPrefix(name, "cfg-")]
		for _, e := range []entry{topicGuard, keyGuard, configRule} {
			before := writesIn(w.proxy.Forwarded())
			o := invoke(g, e, raw)
			got := "skip"
			switch {
			case o.panicked != nil:
				t.Errorf("%s via %s: panic %v", name, e.name, o.panicked)
				continue
			case o.err != nil:
				got = "error"
				errs++
			case o.rep.Skipped == "":
				t.Errorf("%s via %s: neither an error nor a skip: %+v", name, e.name, o.rep)
			default:
				skips++
			}
			if slices.Contains(own, e.name) && got != want[name][0] {
				t.Errorf("%s via %s: %s (%v %q), EXPECT.tsv says %s", name, e.name, got, o.err, o.rep.Skipped, want[name][0])
			}
			if n := writesIn(w.proxy.Forwarded()) - before; n != 0 {
				t.Errorf("%s via %s: %d write calls", name, e.name, n)
			}
		}
	}
	if got := w.policy(keyID); string(got) != originalPolicy {
		t.Errorf("a bad event changed the key policy:\n%s", got)
	}
	count(func() { figures.badInputs += len(files) })
	t.Logf("bad events=%d through 3 entry points: errors=%d skips=%d, writes=0", len(files), errs, skips)
}

// badPolicies are the files of testdata/policies plus generated ones too big
// to keep as files.
func badPolicies(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	files, _ := filepath.Glob("testdata/policies/*.json")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	stmt := func(i int) string {
		return fmt.Sprintf(`{"Sid":"s%05d","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:role/r%05d"},"Action":"kms:ScheduleKeyDeletion","Resource":"*"}`, i, i)
	}
	var many []string
	many = append(many, strings.TrimSpace(rootStatement))
	for i := 1; i < 10000; i++ {
		many = append(many, stmt(i))
	}
	out["gen-10000-statements.json"] = []byte(`{"Version":"2012-10-17","Statement":[` + strings.Join(many, ",") + `]}`)
	out["gen-over-32kb.json"] = []byte(`{"Version":"2012-10-17","Statement":[` + strings.Join(many[:300], ",") + `]}`)
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	out["gen-deep-nesting-20000.json"] = []byte(`{"Version":"2012-10-17","Statement":[` + strings.TrimSpace(rootStatement) + `],"Custom":` + deep + `}`)
	out["gen-deep-statement.json"] = []byte(`{"Version":"2012-10-17","Statement":` + strings.Repeat("[", 5000) + strings.TrimSpace(rootStatement) + strings.Repeat("]", 5000) + `}`)
	out["gen-huge-sid.json"] = []byte(`{"Version":"2012-10-17","Statement":[` + strings.Replace(strings.TrimSpace(rootStatement), "Enable IAM User Permissions", strings.Repeat("x", 1<<20), 1) + `]}`)
	return out
}

// fullGrants is the fix the world's topic needs, for calling plan.Fix directly.
var fullGrants = []rules.Grant{
	{Principal: "cloudwatch.amazonaws.com", SourceAccounts: []string{acct}, SourceARNs: []string{"arn:aws:cloudwatch:us-east-1:" + acct + ":alarm:*"}},
	{Principal: "events.amazonaws.com"},
	{Principal: "s3.amazonaws.com", SourceAccounts: []string{acct}, SourceARNs: []string{"arn:aws:s3:::orders-uploads"}},
}

// judge runs the pure layers on a key policy: its outcome name and detail.
func judge(p []byte) (outcome, detail string, panicked any) {
	defer func() {
		if r := recover(); r != nil {
			panicked = r
		}
	}()
	res := rules.Evaluate(rules.Input{
		Topic: rules.Topic{ARN: topicARN, KMSMasterKeyID: "alias/orders", Policy: []byte(ordersPolicy)},
		Key: &rules.Key{ARN: keyARN, ID: keyID, Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT", Usage: "ENCRYPT_DECRYPT",
			State: "Enabled", Aliases: []string{"alias/orders"}, Policy: p},
		Config: rules.Config{RequiredPrincipals: requiredList},
	})
	_, fixErr := plan.Fix(p, fullGrants)
	for _, f := range res.Findings {
		if f.Code == rules.PolicyUnparseable {
			if fixErr == nil {
				return "BUG", "Fix accepted a policy rules cannot parse", nil
			}
			return "unparseable", f.Message, nil
		}
	}
	if errors.Is(fixErr, plan.ErrTooLarge) {
		return "toolarge", fixErr.Error(), nil
	}
	if fixErr != nil {
		return "refused", fixErr.Error(), nil
	}
	return "fixable", "", nil
}

// TestBadPolicies judges and plans every malformed key policy (pure layers),
// then puts each in kumo and runs topic-guard in remediate mode on it: a
// clear outcome (POLICY_UNPARSEABLE or POLICY_TOO_LARGE, as EXPECT.tsv says),
// no panic, no write.
func TestBadPolicies(t *testing.T) {
	want := expectations(t, "testdata/policies/EXPECT.tsv")
	pols := badPolicies(t)
	if len(pols) < minBadPolicies || len(pols) != len(want) {
		t.Fatalf("%d bad policies (at least %d), %d expectations", len(pols), minBadPolicies, len(want))
	}
	w := newWorld(t, worldSeed())
	g, _ := w.guard(guard.ModeRemediate, nil, fastEdge)
	names := make([]string, 0, len(pols))
	for n := range pols {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		p := pols[name]
		got, detail, panicked := judge(p)
		if panicked != nil {
			t.Errorf("%s: rules/plan panicked: %v", name, panicked)
			continue
		}
		if got != want[name][0] || !strings.Contains(detail, want[name][1]) {
			t.Errorf("%s: %s %q, EXPECT.tsv says %s %q", name, got, detail, want[name][0], want[name][1])
		}
		// End to end. kumo keeps the bytes the SDK sends (the SDK's JSON
		// encoder turns invalid UTF-8 into U+FFFD, so that case is pure only).
		w.setPolicy(keyID, p)
		stored := w.policy(keyID)
		if !bytes.Equal(stored, p) {
			// Real KMS would refuse these bytes too; what kumo kept instead
			// is a different (valid) case.
			t.Logf("%s: end to end skipped, kumo keeps %.60q", name, stored)
			continue
		}
		before := writesIn(w.proxy.Forwarded())
		o := invoke(g, topicGuard, createTopicEvent(topicARN))
		switch {
		case o.panicked != nil:
			t.Errorf("%s: topic-guard panicked: %v", name, o.panicked)
		case o.err == nil:
			var codes []string
			for _, e := range o.rep.Evaluations {
				for _, f := range e.Findings {
					codes = append(codes, string(f.Code))
				}
			}
			wantCode := map[string]string{"unparseable": "POLICY_UNPARSEABLE", "toolarge": "POLICY_TOO_LARGE"}[got]
			if !slices.Contains(codes, wantCode) {
				t.Errorf("%s: end to end gave codes %v, want %s", name, codes, wantCode)
			}
		}
		if n := writesIn(w.proxy.Forwarded()) - before - publishes(o); n != 0 || !bytes.Equal(w.policy(keyID), stored) {
			t.Errorf("%s: %d write calls; policy unchanged=%v", name, n, bytes.Equal(w.policy(keyID), stored))
		}
	}
	count(func() { figures.badInputs += len(pols) })
	t.Logf("bad policies=%d (pure and end to end): no panic, no key-policy write", len(pols))
}

// publishes counts the alerts a report says went out: alerting about a bad
// policy is the expected outcome, not a write.
func publishes(o outcome) int {
	n := 0
	for _, e := range o.rep.Evaluations {
		for _, a := range e.Actions {
			if a.Type == "Alert" && a.Status == "applied" {
				n++
			}
		}
	}
	return n
}

// TestOddPolicies covers legal but unusual key policies (duplicate members,
// escaped names, odd Unicode, lookalike principals): whatever the guard
// decides, a write it makes is valid, keeps every statement it does not own,
// and adds only principals from the sources table.
func TestOddPolicies(t *testing.T) {
	files, _ := filepath.Glob("testdata/odd/*.json")
	if len(files) < minOddPolicies {
		t.Fatalf("%d odd policies, want at least %d", len(files), minOddPolicies)
	}
	w := newWorld(t, worldSeed())
	g, _ := w.guard(guard.ModeRemediate, nil, fastEdge)
	for _, f := range files {
		name := filepath.Base(f)
		p, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, detail, panicked := judge(p)
		if panicked != nil {
			t.Errorf("%s: panic %v", name, panicked)
			continue
		}
		w.setPolicy(keyID, p)
		o := invoke(g, topicGuard, createTopicEvent(topicARN))
		if o.panicked != nil {
			t.Errorf("%s: topic-guard panicked: %v", name, o.panicked)
			continue
		}
		final := w.policy(keyID)
		wrote := !bytes.Equal(final, p)
		if wrote {
			if bad := plan.CheckFix(p, final); bad != nil {
				t.Errorf("%s: the write breaks invariants %v:\n%s", name, bad, final)
			}
		}
		t.Logf("%-34s pure=%s %s; end to end: err=%v wrote=%v", name, got, detail, o.err, wrote)
	}
	count(func() { figures.badInputs += len(files) })
}
