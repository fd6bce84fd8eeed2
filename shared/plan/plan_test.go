package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/rules"
	"github.com/snskeyguard/snskeyguard/shared/sources"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestGolden runs every case under testdata/golden: input.json and
// grants.json in, and either want.json plus want.summary (the fix) or
// want.err (the error) out. A case whose want.json equals its input is a
// "no change" case and must come back byte for byte with Changed=false.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/golden/*")
	if err != nil || len(dirs) < 15 {
		t.Fatalf("want at least 15 golden cases, found %d (%v)", len(dirs), err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			input := read(t, filepath.Join(dir, "input.json"))
			grants := readGrants(t, filepath.Join(dir, "grants.json"))
			ch, err := Fix(input, grants)
			if *update {
				writeGolden(t, dir, input, ch, err)
			}
			if wantErr, e := os.ReadFile(filepath.Join(dir, "want.err")); e == nil {
				if err == nil || err.Error() != strings.TrimSpace(string(wantErr)) {
					t.Fatalf("error = %v, want %s", err, wantErr)
				}
				if ch.Policy != nil || ch.Changed {
					t.Fatalf("a failed fix returned a policy")
				}
				return
			}
			if err != nil {
				t.Fatalf("Fix: %v", err)
			}
			want := read(t, filepath.Join(dir, "want.json"))
			if !bytes.Equal(ch.Policy, want) {
				t.Fatalf("policy differs from want.json:\n got: %s\nwant: %s", ch.Policy, want)
			}
			if ch.Changed != !bytes.Equal(input, want) {
				t.Fatalf("Changed = %v with input %s want.json", ch.Changed, map[bool]string{true: "==", false: "!="}[bytes.Equal(input, want)])
			}
			wantSummary := strings.TrimSpace(string(read(t, filepath.Join(dir, "want.summary"))))
			if got := strings.Join(ch.Summary, "\n"); got != wantSummary {
				t.Fatalf("summary:\n got: %s\nwant: %s", got, wantSummary)
			}
			checkInvariants(t, input, grants, ch.Policy)
		})
	}
}

func writeGolden(t *testing.T, dir string, input []byte, ch Change, err error) {
	t.Helper()
	for _, f := range []string{"want.json", "want.summary", "want.err"} {
		_ = os.Remove(filepath.Join(dir, f))
	}
	if err != nil {
		mustWrite(t, filepath.Join(dir, "want.err"), []byte(err.Error()+"\n"))
		return
	}
	mustWrite(t, filepath.Join(dir, "want.json"), ch.Policy)
	mustWrite(t, filepath.Join(dir, "want.summary"), []byte(strings.Join(ch.Summary, "\n")+"\n"))
}

// checkInvariants asserts what DESIGN.md promises of every fix. It is shared
// by the golden test and the fuzzer.
func checkInvariants(t *testing.T, input []byte, grants []rules.Grant, out []byte) {
	t.Helper()
	if len(out) > policy.MaxKeyPolicyBytes {
		t.Fatalf("fixed policy is %d bytes", len(out))
	}
	in, err := policy.Parse(input)
	if err != nil {
		t.Fatalf("input does not parse: %v", err)
	}
	fixed, err := policy.Parse(out)
	if err != nil {
		t.Fatalf("fixed policy does not parse: %v\n%s", err, out)
	}
	targets := map[string]bool{}
	for _, g := range grants {
		targets[strings.ToLower(strings.TrimSpace(g.Principal))] = true
	}
	// Statements keep their order; one that does not name a target
	// principal in its Service list must marshal exactly as before. The only
	// statement a fix may remove is an Allow whose only principal is
	// EventBridge (moved to its own statement).
	j := 0
	for _, s := range in.Statements {
		if j < len(fixed.Statements) && sameSid(t, s, fixed.Statements[j], targets) {
			if !namesTarget(s, targets) {
				if a, b := stmtJSON(t, s), stmtJSON(t, fixed.Statements[j]); a != b {
					t.Errorf("non-target statement %d changed:\n was %s\n now %s", j, a, b)
				}
			}
			j++
			continue
		}
		if own, ok := s.OwnService(); !ok || !strings.EqualFold(own, eventsPrincipal) || !s.IsAllow() || !targets[eventsPrincipal] {
			t.Fatalf("fix removed a statement that is not an Allow for EventBridge alone: %s", stmtJSON(t, s))
		}
	}
	added := fixed.Statements[j:]
	// No principal may do anything it could not do before, except the
	// grants' own kms:GenerateDataKey*/kms:Decrypt.
	g := Grid{Account: "111122223333", Region: "us-east-1", Grants: grants}
	for _, gr := range grants {
		if len(gr.TopicARNs) > 0 {
			g.TopicARN = gr.TopicARNs[0]
		}
	}
	if wide := g.WidenedDocs(in, fixed); len(wide) > 0 {
		t.Errorf("fix widened the key policy:\n%s\nfixed:\n%s", strings.Join(wide, "\n"), out)
	}
	// Only target principals from the table are ever added, as sole principal.
	for _, s := range added {
		p, ok := s.OwnService()
		if !ok || !targets[strings.ToLower(p)] || !sources.InTable(p) || !s.IsAllow() {
			t.Errorf("added statement is not an Allow for one target principal: %s", stmtJSON(t, s))
		}
	}
	before, after := principals(in), principals(fixed)
	for p := range after {
		svc, isService := strings.CutPrefix(p, "Service:")
		if !before[p] && !(isService && targets[svc] && sources.InTable(svc)) {
			t.Errorf("fix added principal %q", p)
		}
	}
	// Idempotence: a second fix changes nothing.
	again, err := Fix(out, grants)
	if err != nil {
		t.Fatalf("second Fix: %v", err)
	}
	if again.Changed || !bytes.Equal(again.Policy, out) {
		t.Fatalf("second Fix changed the policy: %v\n%s", again.Summary, again.Policy)
	}
	// Exactly one statement of ours per target principal.
	for p := range targets {
		n := 0
		for _, s := range fixed.Statements {
			if s.Sid == SID(p) {
				n++
			}
		}
		if n > 1 {
			t.Errorf("%d statements with Sid %s", n, SID(p))
		}
	}
}

// sameSid pairs a statement of the input with one of the fixed policy:
// statements are edited in place, so their Sid (or, without one, their
// position in the remaining sequence) is kept.
func sameSid(t *testing.T, a, b *policy.Statement, targets map[string]bool) bool {
	return a.Sid == b.Sid && (a.Sid != "" || namesTarget(a, targets) || stmtJSON(t, a) == stmtJSON(t, b))
}

// namesTarget reports whether the statement lists a target in its Service
// principal or carries one of our Sids: the only statements Fix may edit.
func namesTarget(s *policy.Statement, targets map[string]bool) bool {
	for p := range targets {
		if s.Sid == SID(p) {
			return true
		}
	}
	if s.Principal == nil || s.Principal.Service == nil {
		return false
	}
	for _, v := range s.Principal.Service.Items {
		if targets[strings.ToLower(strings.TrimSpace(v))] {
			return true
		}
	}
	return false
}

// principals is every principal value in the document, lower-cased, by kind.
func principals(d *policy.Document) map[string]bool {
	out := map[string]bool{}
	for _, s := range d.Statements {
		for _, p := range []*policy.Principal{s.Principal, s.NotPrincipal} {
			if p == nil {
				continue
			}
			if p.Wildcard {
				out["*"] = true
			}
			for kind, v := range map[string]*policy.Values{"AWS:": p.AWS, "Service:": p.Service, "Federated:": p.Federated, "CanonicalUser:": p.CanonicalUser} {
				if v == nil {
					continue
				}
				for _, x := range v.Items {
					out[kind+strings.ToLower(strings.TrimSpace(x))] = true
				}
			}
		}
	}
	return out
}

func stmtJSON(t *testing.T, s *policy.Statement) string {
	t.Helper()
	b, err := (&policy.Document{Statements: []*policy.Statement{s}}).MarshalCompact()
	if err != nil {
		t.Fatalf("marshal statement: %v", err)
	}
	return string(b)
}

func TestRefused(t *testing.T) {
	def := read(t, "testdata/golden/01-default-add-cloudwatch/input.json")
	acct := []string{"111122223333"}
	arn := []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}
	cases := map[string]rules.Grant{
		"wildcard":         {Principal: "*", SourceAccounts: acct, SourceARNs: arn},
		"wildcard service": {Principal: "*.amazonaws.com", SourceAccounts: acct, SourceARNs: arn},
		"not in table":     {Principal: "lambda.amazonaws.com", SourceAccounts: acct, SourceARNs: arn},
		"needs a role":     {Principal: "autoscaling.amazonaws.com", SourceAccounts: acct, SourceARNs: arn},
		"account":          {Principal: "111122223333", SourceAccounts: acct, SourceARNs: arn},
		"role":             {Principal: "arn:aws:iam::111122223333:role/x", SourceAccounts: acct, SourceARNs: arn},
		"empty":            {Principal: "", SourceAccounts: acct, SourceARNs: arn},
		"no account":       {Principal: "cloudwatch.amazonaws.com", SourceARNs: arn},
		"no arn":           {Principal: "cloudwatch.amazonaws.com", SourceAccounts: acct},
		"wildcard account": {Principal: "cloudwatch.amazonaws.com", SourceAccounts: []string{"*"}, SourceARNs: arn},
		"wildcard arn":     {Principal: "cloudwatch.amazonaws.com", SourceAccounts: acct, SourceARNs: []string{"*"}},
		"topic not an ARN": {Principal: "cloudwatch.amazonaws.com", SourceAccounts: acct, SourceARNs: arn, TopicARNs: []string{"orders"}},
		"topic pattern":    {Principal: "events.amazonaws.com", TopicARNs: []string{"arn:aws:sns:us-east-1:111122223333:*"}},
		"not a topic":      {Principal: "events.amazonaws.com", TopicARNs: []string{"arn:aws:sqs:us-east-1:111122223333:orders"}},
	}
	for name, g := range cases {
		ch, err := Fix(def, []rules.Grant{g})
		if !errors.Is(err, ErrRefused) || ch.Policy != nil {
			t.Errorf("%s: Fix = %v, %v; want ErrRefused and no policy", name, ch.Changed, err)
		}
	}
	// A statement with our Sid that is not ours is never taken over.
	taken := []byte(`{"Statement":[{"Sid":"AllowSNSPublishersCloudwatch","Effect":"Deny","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"kms:*","Resource":"*"}]}`)
	if _, err := Fix(taken, []rules.Grant{{Principal: "cloudwatch.amazonaws.com", SourceAccounts: acct, SourceARNs: arn}}); !errors.Is(err, ErrRefused) {
		t.Errorf("Sid taken by a Deny: err = %v, want ErrRefused", err)
	}
	twice := []byte(`{"Statement":[{"Sid":"AllowSNSPublishersEvents","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"kms:Decrypt"},{"Sid":"AllowSNSPublishersEvents","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"kms:Decrypt"}]}`)
	if _, err := Fix(twice, []rules.Grant{{Principal: "events.amazonaws.com"}}); !errors.Is(err, ErrRefused) {
		t.Errorf("Sid used twice: err = %v, want ErrRefused", err)
	}
	if _, err := Fix([]byte(`{"Statement":`), nil); err == nil {
		t.Errorf("unparseable policy: no error")
	}
}

func TestNoGrantsNoChange(t *testing.T) {
	in := read(t, "testdata/golden/03-own-statements-missing-conditions/input.json")
	ch, err := Fix(in, nil)
	if err != nil || ch.Changed || !bytes.Equal(ch.Policy, in) || ch.Summary != nil {
		t.Fatalf("Fix(nil grants) = %+v, %v", ch, err)
	}
}

func TestSID(t *testing.T) {
	for p, want := range map[string]string{
		"cloudwatch.amazonaws.com":             "AllowSNSPublishersCloudwatch",
		"events.rds.amazonaws.com":             "AllowSNSPublishersEventsRds",
		"ssm-incidents.amazonaws.com":          "AllowSNSPublishersSsmIncidents",
		"codestar-notifications.amazonaws.com": "AllowSNSPublishersCodestarNotifications",
		"S3.AmazonAWS.com":                     "AllowSNSPublishersS3",
	} {
		if got := SID(p); got != want {
			t.Errorf("SID(%s) = %s, want %s", p, got, want)
		}
	}
	seen := map[string]string{}
	for _, s := range sources.All() {
		if other, dup := seen[SID(s.Principal)]; dup {
			t.Errorf("%s and %s share Sid %s", s.Principal, other, SID(s.Principal))
		}
		seen[SID(s.Principal)] = s.Principal
	}
}

// fuzzGrants are the grants the fuzzer picks from with a bit mask.
var fuzzGrants = []rules.Grant{
	{Principal: "events.amazonaws.com"},
	{Principal: "cloudwatch.amazonaws.com", SourceAccounts: []string{"111122223333"}, SourceARNs: []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}},
	{Principal: "s3.amazonaws.com", SourceAccounts: []string{"111122223333"}, SourceARNs: []string{"arn:aws:s3:::orders-ingest-*"}},
	{Principal: "s3.amazonaws.com", SourceAccounts: []string{"111122223333"}, SourceARNs: []string{"arn:aws:s3:::*"}},
	{Principal: "events.rds.amazonaws.com", SourceAccounts: []string{"111122223333", "444455556666"}, SourceARNs: []string{"arn:aws:rds:us-east-1:111122223333:*"}},
	{Principal: "ssm-incidents.amazonaws.com", SourceAccounts: []string{"111122223333"}, SourceARNs: []string{"arn:aws:ssm-incidents:*:111122223333:*"}},
	{Principal: "cloudwatch.amazonaws.com", SourceAccounts: []string{"111122223333"}, SourceARNs: []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}, TopicARNs: []string{"arn:aws:sns:us-east-1:111122223333:orders"}},
	{Principal: "events.amazonaws.com", TopicARNs: []string{"arn:aws:sns:us-east-1:111122223333:orders"}},
}

func FuzzFix(f *testing.F) {
	dirs, _ := filepath.Glob("testdata/golden/*")
	for i, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "input.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(i*7+1))
	}
	f.Fuzz(func(t *testing.T, input []byte, mask uint8) {
		var grants []rules.Grant
		for i, g := range fuzzGrants {
			if mask&(1<<i) != 0 {
				grants = append(grants, g)
			}
		}
		if _, err := policy.Parse(input); err != nil {
			if _, err := Fix(input, grants); err == nil {
				t.Fatalf("Fix accepted a policy that does not parse")
			}
			return
		}
		checkFixDoc(t, input, grants)
		ch, err := Fix(input, grants)
		if err != nil {
			if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrRefused) {
				return
			}
			// The only other failure is marshalling, which must not happen for
			// a parsed document.
			t.Fatalf("Fix: %v", err)
		}
		if !ch.Changed && !bytes.Equal(ch.Policy, input) {
			t.Fatalf("Changed=false but the policy differs")
		}
		checkInvariants(t, input, grants, ch.Policy)
	})
}

// BenchmarkFix fixes a ~30 KB, 100-statement key policy that needs every
// kind of edit: conditions added to an own statement, EventBridge split out
// of a shared statement, and a new statement.
func BenchmarkFix(b *testing.B) {
	in, grants := benchPolicy()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Fix(in, grants); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFixCompliant is the common case: the policy is already right.
func BenchmarkFixCompliant(b *testing.B) {
	in, grants := benchPolicy()
	ch, err := Fix(in, grants)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Fix(ch.Policy, grants); err != nil {
			b.Fatal(err)
		}
	}
}

func benchPolicy() ([]byte, []rules.Grant) {
	const acct = "111122223333"
	stmts := []map[string]any{
		{"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::" + acct + ":root"}, "Action": "kms:*", "Resource": "*"},
		{"Sid": "CloudWatchOwn", "Effect": "Allow", "Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"}, "Action": []string{"kms:GenerateDataKey*", "kms:Decrypt"}, "Resource": "*"},
		{"Sid": "Shared", "Effect": "Allow", "Principal": map[string]any{"Service": []string{"events.amazonaws.com", "dms.amazonaws.com"}}, "Action": []string{"kms:GenerateDataKey*", "kms:Decrypt"}, "Resource": "*",
			"Condition": map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": acct}, "ArnLike": map[string]any{"aws:SourceArn": "arn:aws:dms:us-east-1:" + acct + ":*"}}},
	}
	for i := len(stmts); i < 100; i++ {
		stmts = append(stmts, map[string]any{
			"Sid": fmt.Sprintf("Application%03d", i), "Effect": "Allow",
			"Principal": map[string]any{"AWS": fmt.Sprintf("arn:aws:iam::%s:role/application-%03d", acct, i)},
			"Action":    []string{"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"},
			"Resource":  "*",
		})
	}
	in, err := json.MarshalIndent(map[string]any{"Version": "2012-10-17", "Statement": stmts}, "", "  ")
	if err != nil {
		panic(err)
	}
	return in, []rules.Grant{fuzzGrants[0], fuzzGrants[1], fuzzGrants[2], {Principal: "dms.amazonaws.com", SourceAccounts: []string{acct}, SourceARNs: []string{"arn:aws:dms:us-east-1:" + acct + ":*"}}}
}

func TestBenchPolicyShape(t *testing.T) {
	in, grants := benchPolicy()
	d, err := policy.Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.Statements); n != 100 || len(in) < 25000 || len(in) > policy.MaxKeyPolicyBytes {
		t.Fatalf("bench policy: %d statements, %d bytes", n, len(in))
	}
	ch, err := Fix(in, grants)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`remove events.amazonaws.com from shared statement "Shared"`,
		`add statement AllowSNSPublishersEvents for events.amazonaws.com`,
		`add aws:SourceAccount and aws:SourceArn condition to statement "CloudWatchOwn" for cloudwatch.amazonaws.com`,
		`add statement AllowSNSPublishersS3 for s3.amazonaws.com`,
	}
	if !slices.Equal(ch.Summary, want) {
		t.Fatalf("summary = %q", ch.Summary)
	}
	checkInvariants(t, in, grants, ch.Policy)
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readGrants(t *testing.T, path string) []rules.Grant {
	t.Helper()
	var gs []rules.Grant
	if err := json.Unmarshal(read(t, path), &gs); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return gs
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
