package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParse checks the parser's contract on arbitrary input: no panic; a
// parsed policy marshals, the output parses, means the same as the input, and
// marshalling is deterministic and a fixed point. Seeded from testdata/*.json
// (which includes the AWS samples).
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		f.Add(readFile(f, name))
	}
	f.Add([]byte(`{"Statement":{"Effect":"Allow","Principal":"*","NotAction":"a","Condition":{"Null":{"k":[true,1,"x"]}}}}`))
	f.Add([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"kms:*","Condition":{"ArnNotLike":{"aws:SourceArn":"arn:aws:cloudwatch:*:*:alarm:*"},` +
		`"StringLike":{"aws:SourceArn":["arn:aws:s3:::b-*","*:alarm:*"]},"StringEqualsIfExists":{"aws:SourceAccount":"${aws:PrincipalTag/a, '1'}"},"Null":{"kms:CallerAccount":"true"}}}]}`))
	f.Fuzz(fuzzBody)
}

func fuzzBody(t *testing.T, data []byte) {
	tm := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("HANG %q", data)) })
	defer tm.Stop()
	{
		d, err := Parse(data)
		if err != nil {
			return
		}
		out, err := d.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed policy failed: %v", err)
		}
		d2, err := Parse(out)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%s", err, out)
		}
		if !d.Equal(d2) {
			t.Fatalf("round trip changed the meaning:\nin  %s\nout %s", data, out)
		}
		out2, err := d2.Marshal()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("Marshal is not a fixed point (%v):\n%s\n%s", err, out, out2)
		}
		again, _ := d.Marshal()
		if !bytes.Equal(out, again) {
			t.Fatalf("Marshal not deterministic")
		}
		compact, err := d.MarshalCompact()
		if err != nil {
			t.Fatal(err)
		}
		if dc, err := Parse(compact); err != nil || !dc.Equal(d) {
			t.Fatalf("compact form differs: %v\n%s", err, compact)
		}
		if w, err := d.MarshalWithin(len(out) - 1); err != nil || !bytes.Equal(w, compact) {
			t.Fatalf("MarshalWithin over the limit (%v):\n%s\nwant MarshalCompact's\n%s", err, w, compact)
		}
		if w, err := d.MarshalWithin(len(out)); err != nil || !bytes.Equal(w, out) {
			t.Fatalf("MarshalWithin at the limit (%v):\n%s\nwant Marshal's\n%s", err, w, out)
		}
		if !d.Clone().Equal(d) {
			t.Fatal("Clone not Equal")
		}
		// The evaluators must not panic on anything the parser accepts.
		ctx := NewContext()
		ctx.Set("aws:SourceAccount", "111122223333")
		ctx.SetUnknown("aws:SourceArn")
		// Open-world soundness: a verdict decided with some keys unknown (and
		// aws:SourceArn known only by its shape) holds in a full request
		// that completes it (other keys absent, a concrete alarm ARN).
		open := NewContext()
		open.Set("aws:SourceAccount", "111122223333")
		open.SetShape("aws:SourceArn", "arn:aws:cloudwatch:*:*:alarm:*")
		full := NewContext()
		full.SetOthersAbsent()
		full.Set("aws:SourceAccount", "111122223333")
		full.Set("aws:SourceArn", "arn:aws:cloudwatch:us-east-1:111122223333:alarm:high-cpu")
		for _, s := range d.Statements {
			if o := s.EvalCondition(open.ForDocument(d)); o != Unknown {
				if f := s.EvalCondition(full.ForDocument(d)); f != o {
					t.Fatalf("open-world verdict %v, full request %v: %s", o, f, data)
				}
			}
		}
		for _, s := range d.Statements {
			s.MatchesAction("kms:Decrypt")
			s.MatchesResource("arn:aws:kms:us-east-1:111122223333:key/k")
			s.MatchesPrincipal(Identity{Service: "cloudwatch.amazonaws.com"})
			s.MatchesPrincipal(Identity{AWS: "arn:aws:sts::111122223333:assumed-role/r/s"})
			s.OwnService()
			s.EvalCondition(ctx)
		}
	}
}

// FuzzMatchWildcard checks the matcher against the obvious recursive
// definition on short inputs.
func FuzzMatchWildcard(f *testing.F) {
	f.Add("kms:GenerateDataKey*", "kms:GenerateDataKeyPair")
	f.Add("a*?b", "aXYb")
	f.Add("*a*", "bab")
	f.Fuzz(func(t *testing.T, p, s string) {
		// Invalid UTF-8 compares byte by byte; the rune-based reference
		// cannot express that, so it only judges valid text.
		if len(p) > 12 || len(s) > 12 || !utf8.ValidString(p) || !utf8.ValidString(s) {
			MatchWildcard(p, s)
			MatchWildcardFold(p, s)
			return
		}
		if got, want := MatchWildcard(p, s), refMatch([]rune(p), []rune(s)); got != want {
			t.Fatalf("MatchWildcard(%q, %q) = %v, want %v", p, s, got, want)
		}
		// Case folding beyond ASCII has no simple reference; ASCII suffices
		// to check the folding path of the matcher.
		if isASCII(p) && isASCII(s) {
			if got, want := MatchWildcardFold(p, s), refMatch([]rune(strings.ToLower(p)), []rune(strings.ToLower(s))); got != want {
				t.Fatalf("MatchWildcardFold(%q, %q) = %v, want %v", p, s, got, want)
			}
		}
	})
}

func refMatch(p, s []rune) bool {
	if len(p) == 0 {
		return len(s) == 0
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if refMatch(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return len(s) > 0 && refMatch(p[1:], s[1:])
	}
	return len(s) > 0 && p[0] == s[0] && refMatch(p[1:], s[1:])
}

// bigKeyPolicy builds a key policy of about 30 KB with 100 statements, shaped
// like real ones: service grants with confused-deputy conditions, role grants,
// and a few denies.
func bigKeyPolicy() []byte {
	var b strings.Builder
	b.WriteString(`{"Version":"2012-10-17","Id":"big","Statement":[`)
	b.WriteString(`{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`)
	for i := 1; i < 100; i++ {
		b.WriteByte(',')
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, `{"Sid":"AllowServicePrincipal%dToUseTheKeyForEncryptedTopics","Effect":"Allow","Principal":{"Service":"svc%d.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"},"ArnLike":{"aws:SourceArn":"arn:aws:svc%d:us-east-1:111122223333:thing/*"}}}`, i, i, i)
		case 1:
			fmt.Fprintf(&b, `{"Sid":"AllowApplicationRoles%dToUseTheKey","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/app-%d","arn:aws:iam::111122223333:role/ops-%d"]},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}`, i, i, i)
		default:
			fmt.Fprintf(&b, `{"Sid":"DenyRequestsFromOutsideTheOrganization%d","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringNotEquals":{"kms:CallerAccount":["111122223333","444455556666"]},"BoolIfExists":{"aws:PrincipalIsAWSService":"false"},"NotIpAddress":{"aws:SourceIp":["10.%d.0.0/16"]}}}`, i, i)
		}
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// BenchmarkParse: go test ./shared/policy/ -run '^$' -bench . -benchmem
func BenchmarkParse(b *testing.B) {
	data := bigKeyPolicy()
	b.SetBytes(int64(len(data)))
	b.ReportMetric(float64(len(data)), "policy-bytes")
	b.ReportAllocs()
	for b.Loop() {
		d, err := Parse(data)
		if err != nil || len(d.Statements) != 100 {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	d, err := Parse(bigKeyPolicy())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBigKeyPolicySize(t *testing.T) {
	data := bigKeyPolicy()
	if n := len(data); n < 29000 || n > MaxKeyPolicyBytes {
		t.Errorf("benchmark policy is %d bytes, want about 30 KB", n)
	}
}

// FuzzValidJSON holds validJSON to json.Valid: Parse trusts the splitter
// only because validJSON accepts exactly what encoding/json accepts.
func FuzzValidJSON(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		f.Add(readFile(f, name))
	}
	for _, s := range validJSONCases {
		f.Add([]byte(s))
	}
	f.Fuzz(checkScan)
}

// checkScan holds scanJSON to json.Valid and its spans to skipValue, the
// scan that Parse saves by using them.
func checkScan(t *testing.T, data []byte) {
	var spans []span
	src := string(data)
	if got, want := scanJSON(src, &spans), json.Valid(data); got != want {
		t.Fatalf("validJSON(%.80q) = %v, json.Valid = %v", data, got, want)
	} else if !got {
		return
	}
	if len(spans) > 1000 {
		return // checking each span by a scan is quadratic in the nesting
	}
	for i, sp := range spans {
		if c := src[sp.open]; c != '{' && c != '[' || i > 0 && spans[i-1].open >= sp.open {
			t.Fatalf("span %d %v does not open a container in order", i, sp)
		}
		if end := skipValue(src, sp.open); end != sp.end {
			t.Fatalf("span %d ends at %d, skipValue says %d", i, sp.end, end)
		}
	}
}
