package policy

import (
	"strings"
	"testing"
)

// openContext is SNS's request to KMS for a service principal as the rules
// build it: some keys known, some documented absent, the rest unknown.
func openContext() Context {
	c := NewContext()
	c.Set("aws:PrincipalIsAWSService", "true")
	c.Set("aws:PrincipalServiceName", "cloudwatch.amazonaws.com")
	c.Set("aws:SourceAccount", "111122223333")
	c.SetShape("aws:SourceArn", "arn:aws:cloudwatch:*:*:alarm:*")
	c.Set("kms:EncryptionContextKeys", "aws:sns:topicArn")
	c.Set("kms:EncryptionContext:aws:sns:topicArn", "arn:aws:sns:us-east-1:111122223333:orders")
	c.SetAbsentPrefix("kms:EncryptionContext:")
	c.Set("kms:ResourceAliases", "alias/orders", "alias/shared")
	c.SetAbsent("aws:PrincipalOrgID", "kms:GrantOperations")
	c.SetAbsentPrefix("aws:PrincipalTag/")
	c.SetUnknown("aws:PrincipalAccount")
	return c
}

func TestEvalConditionOpenWorld(t *testing.T) {
	tests := []struct {
		cond string
		want Tri
	}{
		// Present keys: SNS always sends its encryption context.
		{`{"Null":{"kms:EncryptionContextKeys":"true"}}`, False},
		{`{"Null":{"kms:EncryptionContext:aws:sns:topicArn":"true"}}`, False},
		{`{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"aws:sns:topicArn"}}`, True},
		{`{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["aws:sns:topicArn","aws:s3:arn"]}}`, True},
		// Other encryption context keys are absent (prefix), the named one is not.
		{`{"Null":{"kms:EncryptionContext:aws:s3:arn":"true"}}`, True},
		{`{"StringEquals":{"KMS:ENCRYPTIONCONTEXT:AppName":"x"}}`, False},
		// kms:ResourceAliases is the key's alias list.
		{`{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/orders"}}`, True},
		{`{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/other"}}`, False},
		{`{"ForAllValues:StringLike":{"kms:ResourceAliases":"alias/*"}}`, True},
		// Documented absent keys decide.
		{`{"StringNotEquals":{"aws:PrincipalOrgID":"o-abc"}}`, True},
		{`{"StringEquals":{"aws:PrincipalTag/team":"ops"}}`, False},
		{`{"Null":{"kms:GrantOperations":"true"}}`, True},
		// Present with unknown value.
		{`{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}`, Unknown},
		{`{"Null":{"aws:PrincipalAccount":"false"}}`, True},
		// Keys the context does not know: undecided unless both answers agree.
		{`{"StringEquals":{"kms:CallerAccount":"111122223333"}}`, Unknown},
		{`{"StringNotEquals":{"kms:CallerAccount":"111122223333"}}`, Unknown},
		{`{"Null":{"kms:CallerAccount":"true"}}`, Unknown},
		{`{"Null":{"kms:CallerAccount":["true","false"]}}`, True},
		{`{"StringLikeIfExists":{"kms:CallerAccount":"*"}}`, True},
		{`{"StringNotLikeIfExists":{"kms:CallerAccount":"*"}}`, Unknown},
		{`{"ForAnyValue:StringEquals":{"aws:CalledVia":"x"}}`, Unknown},
		// A variable on an unknown key is unknown, on an absent one False.
		{`{"StringEquals":{"aws:SourceAccount":"${aws:PrincipalAccount}"}}`, Unknown},
		{`{"StringEquals":{"aws:SourceAccount":"${aws:PrincipalTag/acct}"}}`, False},
		{`{"StringEquals":{"aws:SourceAccount":"${aws:PrincipalTag/acct, '111122223333'}"}}`, True},
		{`{"StringEquals":{"aws:SourceAccount":"${kms:CallerAccount, '111122223333'}"}}`, Unknown},
		// Shapes: disjoint patterns are False, covering ones True, else Unknown.
		{`{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::*"}}`, False},
		{`{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::orders-bucket"}}`, False},
		{`{"ArnEquals":{"aws:SourceArn":"arn:aws:events:us-east-1:111122223333:rule/r"}}`, False},
		{`{"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:*:111122223333:dashboard/*"}}`, False},
		{`{"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:*:*:alarm:*"}}`, True},
		{`{"ArnLike":{"aws:SourceArn":"arn:*:*:*:*:*"}}`, True},
		{`{"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}`, Unknown},
		{`{"ArnLike":{"aws:SourceArn":["arn:aws:s3:::*","arn:aws:cloudwatch:us-east-1:*:alarm:*"]}}`, Unknown},
		{`{"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::*"}}`, True},
		{`{"ArnNotLike":{"aws:SourceArn":"arn:aws:cloudwatch:*:*:alarm:*"}}`, False},
		{`{"StringLike":{"aws:SourceArn":"arn:aws:s3:::*"}}`, False},
		{`{"StringLike":{"aws:SourceArn":"*:alarm:*"}}`, True},
		{`{"StringLike":{"aws:SourceArn":"arn:aws:cloudwatch:*"}}`, True},
		{`{"StringEquals":{"aws:SourceArn":"arn:aws:s3:::b"}}`, False},
		{`{"StringEquals":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:a"}}`, Unknown},
		{`{"StringEqualsIgnoreCase":{"aws:SourceArn":"ARN:AWS:S3:::B"}}`, False},
		{`{"ForAnyValue:ArnLike":{"aws:SourceArn":"arn:aws:s3:::*"}}`, False},
		{`{"Null":{"aws:SourceArn":"true"}}`, False},
		{`{"Bool":{"aws:SourceArn":"true"}}`, Unknown},
	}
	ctx := openContext()
	for _, tc := range tests {
		s := stmt(t, `{"Effect":"Deny","Action":"kms:*","Condition":`+tc.cond+`}`)
		if got := s.EvalCondition(ctx); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.cond, got, tc.want)
		}
	}
}

func TestForDocumentVariables(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    Tri
	}{
		{`"Version":"2012-10-17",`, True},
		{`"Version":"2008-10-17",`, False},
		{``, False},
	} {
		d, err := Parse([]byte(`{` + tc.version + `"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*",
			"Condition":{"StringEquals":{"aws:SourceAccount":"${aws:ResourceAccount}"}}}}`))
		if err != nil {
			t.Fatal(err)
		}
		c := NewContext()
		c.Set("aws:SourceAccount", "111122223333")
		c.Set("aws:ResourceAccount", "111122223333")
		if got := d.Statements[0].EvalCondition(c.ForDocument(d)); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.version, got, tc.want)
		}
		// The literal text matches itself in an old policy.
		lit := NewContext()
		lit.Set("aws:SourceAccount", "${aws:ResourceAccount}")
		if got, want := d.Statements[0].EvalCondition(lit.ForDocument(d)), (tc.want == False); (got == True) != want {
			t.Errorf("%q literal: %v", tc.version, got)
		}
	}
	// ForDocument shares the keys and leaves the original as it was.
	c := NewContext()
	c.Set("k", "v")
	old := c.ForDocument(&Document{Version: "2008-10-17"})
	if st, _, _ := old.Get("K"); st != KeyKnown {
		t.Error("ForDocument lost a key")
	}
	if c.d.literalVars {
		t.Error("ForDocument changed the original context")
	}
}

func TestPatternsIntersect(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"a*", "*b", true},
		{"a*c", "ab*", true},
		{"a?", "abc", false},
		{"a*", "b*", false},
		{"*a", "*b", false},
		{"*", "", true},
		{"?", "", false},
		{"arn:aws:s3:::*", "arn:aws:cloudwatch:*:*:alarm:*", false},
		{"*alarm*", "arn:aws:cloudwatch:*:*:alarm:*", true},
		{"x*y*z", "*q*", true},
		{"a?c", "a*", true},
	} {
		if got := patternsIntersect(tc.a, tc.b); got != tc.want {
			t.Errorf("patternsIntersect(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := patternsIntersect(tc.b, tc.a); got != tc.want {
			t.Errorf("patternsIntersect(%q, %q) = %v, want %v (swapped)", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestPatternCovers(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "anything*", true},
		{"a*", "ab*", true},
		{"a*", "*", false},
		{"ab*", "a*", false},
		{"a?c", "abc", true},
		{"a?c", "a?c", true},
		{"a?c", "a*c", false},
		{"*:alarm:*", "arn:aws:cloudwatch:*:*:alarm:*", true},
		{"arn:aws:cloudwatch:us-east-1:*", "arn:aws:cloudwatch:*:*:alarm:*", false},
		{"", "", true},
		{"", "*", false},
	} {
		if got := patternCovers(tc.p, tc.s); got != tc.want {
			t.Errorf("patternCovers(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}

// FuzzShapeRelation checks relatePatterns against brute force over short
// strings of a small alphabet: a True verdict means every string of the
// shape matches p, a False one that none does.
func FuzzShapeRelation(f *testing.F) {
	f.Add("a*", "ab?")
	f.Add("*b", "a*")
	f.Add("?*?", "**")
	f.Fuzz(func(t *testing.T, p, shape string) {
		if len(p) > 6 || len(shape) > 6 || strings.Trim(p+shape, "ab*?") != "" {
			return
		}
		r := relatePatterns(p, shape)
		for _, s := range allStrings("ab", 7) {
			if !MatchWildcard(shape, s) {
				continue
			}
			m := MatchWildcard(p, s)
			if r == True && !m {
				t.Fatalf("relatePatterns(%q, %q) = True but %q matches the shape and not p", p, shape, s)
			}
			if r == False && m {
				t.Fatalf("relatePatterns(%q, %q) = False but %q matches both", p, shape, s)
			}
		}
	})
}

func allStrings(alphabet string, maxLen int) []string {
	out := []string{""}
	prev := []string{""}
	for n := 1; n <= maxLen; n++ {
		var next []string
		for _, p := range prev {
			for _, c := range alphabet {
				next = append(next, p+string(c))
			}
		}
		out = append(out, next...)
		prev = next
	}
	return out
}

func TestRestricting(t *testing.T) {
	for _, tc := range []struct {
		op      string
		account bool // restricts aws:SourceAccount
		arn     bool // restricts aws:SourceArn
	}{
		{"StringEquals", true, true},
		{"StringLike", true, true},
		{"ForAnyValue:StringEquals", true, true},
		{"ArnEquals", false, true},
		{"ArnLike", false, true},
		{"NumericEquals", false, false},
		{"StringEqualsIfExists", false, false},
		{"StringNotEquals", false, false},
		{"ForAllValues:StringEquals", false, false},
		{"StringSoundsLike", false, false},
	} {
		op := ParseOperator(tc.op)
		if got := Restricting(op, StringFamily); got != tc.account {
			t.Errorf("%s on an account: %v, want %v", tc.op, got, tc.account)
		}
		if got := Restricting(op, ARNFamily); got != tc.arn {
			t.Errorf("%s on an ARN: %v, want %v", tc.op, got, tc.arn)
		}
	}
}

// literalEndsDiffer proves two patterns disjoint only when no string matches
// both, also for non-ASCII runes and invalid bytes (which MatchWildcard reads
// as U+FFFD, one byte each): checked over every pattern of up to three
// tokens against every string of up to four.
func TestLiteralEndsDifferIsSound(t *testing.T) {
	atoms := []string{"a", "é", "\xbc", "\xbd"}
	words := []string{""}
	for prev, n := []string{""}, 0; n < 4; n++ {
		var next []string
		for _, p := range prev {
			for _, a := range atoms {
				next = append(next, p+a)
			}
		}
		words, prev = append(words, next...), next
	}
	pats := []string{""}
	for prev, n := []string{""}, 0; n < 3; n++ {
		var next []string
		for _, p := range prev {
			for _, a := range append([]string{"*", "?"}, atoms...) {
				next = append(next, p+a)
			}
		}
		pats, prev = append(pats, next...), next
	}
	proved := 0
	for _, p := range pats {
		for _, q := range pats {
			if !literalEndsDiffer(p, q) {
				continue
			}
			proved++
			for _, w := range words {
				if MatchWildcard(p, w) && MatchWildcard(q, w) {
					t.Fatalf("literalEndsDiffer(%q, %q) but %q matches both", p, q, w)
				}
			}
		}
	}
	if proved == 0 {
		t.Fatal("no pair proved disjoint")
	}
	if !literalEndsDiffer("\xbc*", "arn:aws:cloudwatch:*:*:alarm:*") {
		t.Error(`"\xbc*" and an alarm ARN pattern share no string`)
	}
}
