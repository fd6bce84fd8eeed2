package configrule

import (
	"fmt"
	"math/rand"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var allCodes = strings.Fields(`TOPIC_UNENCRYPTED KEY_AWS_MANAGED KEY_NOT_SYMMETRIC KEY_DISABLED
	KEY_PENDING_DELETION KEY_UNAVAILABLE KEY_NOT_FOUND KEY_ACCESS_DENIED KEY_OTHER_REGION KEY_OTHER_ACCOUNT
	GRANT_MISSING GRANT_DENIED CONFUSED_DEPUTY_MISSING CONFUSED_DEPUTY_MISMATCH CONFUSED_DEPUTY_UNSUPPORTED
	ALIAS_REQUIRED PUBLISHER_NOT_GRANTED SOURCE_NEEDS_ROLE POLICY_UNPARSEABLE POLICY_TOO_LARGE`)

func TestAnnotation(t *testing.T) {
	long := strings.Repeat("X", 300)
	cases := []struct {
		name  string
		codes []string
		want  string
	}{
		{"none", nil, ""},
		{"blank", []string{" ", ""}, ""},
		{"one", []string{"GRANT_MISSING"}, "GRANT_MISSING"},
		{"order kept, repeats dropped", []string{"GRANT_MISSING", "CONFUSED_DEPUTY_MISSING", "GRANT_MISSING", " "},
			"GRANT_MISSING, CONFUSED_DEPUTY_MISSING"},
		{"every code", allCodes, "TOPIC_UNENCRYPTED, KEY_AWS_MANAGED, KEY_NOT_SYMMETRIC, KEY_DISABLED, " +
			"KEY_PENDING_DELETION, KEY_UNAVAILABLE, KEY_NOT_FOUND, KEY_ACCESS_DENIED, KEY_OTHER_REGION, " +
			"KEY_OTHER_ACCOUNT, GRANT_MISSING, GRANT_DENIED, CONFUSED_DEPUTY_MISSING +7 more"},
		{"257 bytes", []string{strings.Repeat("A", 254), "B"}, annotationOf254()},
		{"256 bytes exactly", []string{strings.Repeat("A", 253), "B"}, strings.Repeat("A", 253) + ", B"},
		{"one code too long", []string{long}, strings.Repeat("X", 253) + "…"},
		{"first too long, more follow", []string{long, "B", "C"}, strings.Repeat("X", 253-len(" +2 more")) + "… +2 more"},
	}
	for _, c := range cases {
		got := Annotation(c.codes)
		if got != c.want {
			t.Errorf("%s: got  %q\nwant %q", c.name, got, c.want)
		}
		if len(got) > MaxAnnotation {
			t.Errorf("%s: %d bytes", c.name, len(got))
		}
	}
	if got, want := len(Annotation(allCodes)), 239; got != want {
		t.Errorf("every code: %d bytes, want %d", got, want)
	}
}

// annotationOf254 is the expected annotation of a 254-byte code followed by
// "B": the pair is 257 bytes, and the first code with " +1 more" is 262, so
// even the first code must be cut.
func annotationOf254() string {
	return strings.Repeat("A", 256-len("…")-len(" +1 more")) + "… +1 more"
}

var moreRE = regexp.MustCompile(` \+([0-9]+) more$`)

// TestAnnotationProperties checks on random code lists that the annotation
// fits, names codes exactly, and accounts for every code it leaves out.
func TestAnnotationProperties(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		var codes []string
		for n := rng.Intn(40); n > 0; n-- {
			if rng.Intn(10) == 0 {
				codes = append(codes, strings.Repeat("Z", rng.Intn(400))+"é")
			} else {
				codes = append(codes, allCodes[rng.Intn(len(allCodes))])
			}
		}
		got := Annotation(codes)
		if len(got) > MaxAnnotation || !utf8.ValidString(got) {
			t.Fatalf("%q: %d bytes, valid UTF-8 %v", codes, len(got), utf8.ValidString(got))
		}
		unique := map[string]bool{}
		for _, c := range codes {
			if strings.TrimSpace(c) != "" {
				unique[c] = true
			}
		}
		shown, left := got, 0
		if m := moreRE.FindStringSubmatch(got); m != nil {
			left, _ = strconv.Atoi(m[1])
			shown = strings.TrimSuffix(got, m[0])
		}
		named := 0
		if shown != "" {
			for _, c := range strings.Split(shown, ", ") {
				if !unique[c] && !strings.HasSuffix(c, "…") {
					t.Fatalf("%q: names %q, which is not a code given", codes, c)
				}
				named++
			}
		}
		if named+left != len(unique) {
			t.Fatalf("%q -> %q: %d named + %d more != %d codes", codes, got, named, left, len(unique))
		}
	}
}

func TestBatches(t *testing.T) {
	mk := func(n int) []Evaluation {
		out := make([]Evaluation, n)
		for i := range out {
			out[i].ResourceID = fmt.Sprint(i)
		}
		return out
	}
	for n, want := range map[int][]int{0: nil, 1: {1}, 99: {99}, 100: {100}, 101: {100, 1}, 250: {100, 100, 50}, 10000: nil} {
		if n == 10000 {
			want = make([]int, 100)
			for i := range want {
				want[i] = 100
			}
		}
		got := Batches(mk(n))
		var sizes []int
		next := 0
		for _, b := range got {
			sizes = append(sizes, len(b))
			for _, e := range b {
				if e.ResourceID != fmt.Sprint(next) {
					t.Fatalf("n=%d: evaluation %s where %d was due", n, e.ResourceID, next)
				}
				next++
			}
		}
		if fmt.Sprint(sizes) != fmt.Sprint(want) {
			t.Errorf("n=%d: batch sizes %v, want %v", n, sizes, want)
		}
	}
	// Appending to one batch must not overwrite the first item of the next.
	b := Batches(mk(150))
	_ = append(b[0], Evaluation{ResourceID: "x"})
	if b[1][0].ResourceID != "100" {
		t.Errorf("append to batch 0 overwrote batch 1: %q", b[1][0].ResourceID)
	}
}

func TestValidate(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 41, 52, 0, time.UTC)
	ok := Evaluation{ResourceType: "AWS::SNS::Topic", ResourceID: "arn:aws:sns:us-east-1:111122223333:orders",
		Compliance: NonCompliant, Annotation: Annotation(allCodes), OrderingTimestamp: now}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid evaluation: %v", err)
	}
	bad := ok
	bad.Compliance, bad.Annotation, bad.OrderingTimestamp, bad.ResourceType = "INSUFFICIENT", strings.Repeat("é", 257), time.Time{}, ""
	err := bad.Validate()
	want := "evaluation of arn:aws:sns:us-east-1:111122223333:orders: missing resource type or id\n" +
		`compliance "INSUFFICIENT" is not COMPLIANT, NON_COMPLIANT or NOT_APPLICABLE` + "\n" +
		"annotation has 257 characters, over 256\nmissing ordering timestamp"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
