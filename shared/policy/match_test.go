package policy

import "testing"

func TestMatchWildcard(t *testing.T) {
	tests := []struct {
		pattern, s  string
		exact, fold bool
	}{
		{"*", "", true, true},
		{"*", "anything", true, true},
		{"", "", true, true},
		{"", "a", false, false},
		{"kms:GenerateDataKey*", "kms:GenerateDataKey", true, true},
		{"kms:GenerateDataKey*", "kms:GenerateDataKeyWithoutPlaintext", true, true},
		{"kms:GenerateDataKey*", "KMS:generatedatakey", false, true},
		{"kms:Decrypt", "kms:decrypt", false, true},
		{"kms:?ecrypt", "kms:Decrypt", true, true},
		{"kms:?ecrypt", "kms:ecrypt", false, false},
		{"a?c", "aéc", true, true}, // ? is one character, not one byte
		{"a*b*c", "aXXbYYbZc", true, true},
		{"a*b*c", "aXXbYYbZ", false, false},
		{"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, false},
		{"**", "x", true, true},
		{"arn:aws:sns:*:111122223333:*", "arn:aws:sns:us-east-1:111122223333:orders", true, true},
		{"ÉTÉ*", "été-1", false, true},
		{"kms:Decrypt", "kms:Decrypt2", false, false},
		{"\xf8", "\xa3", false, false}, // invalid UTF-8 compares by bytes
		{"?\xf8*", "a\xf8b", true, true},
		{"*\xf8", "\xa3", false, false},
	}
	for _, tc := range tests {
		if got := MatchWildcard(tc.pattern, tc.s); got != tc.exact {
			t.Errorf("MatchWildcard(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.exact)
		}
		if got := MatchWildcardFold(tc.pattern, tc.s); got != tc.fold {
			t.Errorf("MatchWildcardFold(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.fold)
		}
	}
}

func stmt(t *testing.T, s string) *Statement {
	t.Helper()
	return mustParse(t, `{"Statement":[`+s+`]}`).Statements[0]
}

func TestMatchesAction(t *testing.T) {
	tests := []struct {
		stmt   string
		action string
		want   bool
	}{
		{`{"Effect":"Allow","Action":"kms:GenerateDataKey*"}`, "kms:GenerateDataKey", true},
		{`{"Effect":"Allow","Action":"KMS:GENERATEDATAKEY"}`, "kms:GenerateDataKey", true},
		{`{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"]}`, "kms:Decrypt", true},
		{`{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"]}`, "kms:GenerateDataKey", false},
		{`{"Effect":"Allow","Action":"kms:*"}`, "kms:Decrypt", true},
		{`{"Effect":"Allow","Action":"*"}`, "kms:Decrypt", true},
		{`{"Effect":"Allow","Action":"kms:Re*"}`, "kms:Decrypt", false},
		{`{"Effect":"Allow","Action":[]}`, "kms:Decrypt", false},
		{`{"Effect":"Allow","NotAction":"kms:Decrypt"}`, "kms:Decrypt", false},
		{`{"Effect":"Allow","NotAction":"kms:Decrypt"}`, "kms:GenerateDataKey", true},
		{`{"Effect":"Allow","NotAction":["kms:Create*","kms:Put*"]}`, "kms:PutKeyPolicy", false},
		{`{"Effect":"Allow","NotAction":[]}`, "kms:Decrypt", true},
		{`{"Effect":"Deny","NotAction":"kms:*"}`, "kms:Decrypt", false},
	}
	for _, tc := range tests {
		if got := stmt(t, tc.stmt).MatchesAction(tc.action); got != tc.want {
			t.Errorf("%s MatchesAction(%q) = %v, want %v", tc.stmt, tc.action, got, tc.want)
		}
	}
	if (&Statement{}).MatchesAction("kms:Decrypt") {
		t.Error("a built statement without Action matched")
	}
}

func TestMatchesResource(t *testing.T) {
	key := "arn:aws:kms:us-east-1:111122223333:key/1234"
	tests := []struct {
		stmt string
		want bool
	}{
		{`{"Effect":"Allow","Action":"a"}`, true},
		{`{"Effect":"Allow","Action":"a","Resource":"*"}`, true},
		{`{"Effect":"Allow","Action":"a","Resource":"arn:aws:kms:*:111122223333:key/*"}`, true},
		{`{"Effect":"Allow","Action":"a","Resource":"ARN:AWS:KMS:*:111122223333:KEY/*"}`, false},
		{`{"Effect":"Allow","Action":"a","Resource":["arn:aws:kms:us-east-1:444455556666:key/*"]}`, false},
		{`{"Effect":"Allow","Action":"a","Resource":[]}`, false},
		{`{"Effect":"Allow","Action":"a","NotResource":"arn:aws:kms:us-east-1:111122223333:key/1234"}`, false},
		{`{"Effect":"Allow","Action":"a","NotResource":"arn:aws:sns:*"}`, true},
	}
	for _, tc := range tests {
		if got := stmt(t, tc.stmt).MatchesResource(key); got != tc.want {
			t.Errorf("%s MatchesResource = %v, want %v", tc.stmt, got, tc.want)
		}
	}
}

func TestMatchesPrincipal(t *testing.T) {
	cw := Identity{Service: "cloudwatch.amazonaws.com"}
	role := Identity{AWS: "arn:aws:iam::111122223333:role/app"}
	session := Identity{AWS: "arn:aws:sts::111122223333:assumed-role/app/i-123"}
	other := Identity{AWS: "arn:aws:iam::444455556666:role/app"}
	acct := Identity{AWS: "111122223333"}
	gov := Identity{AWS: "arn:aws-us-gov:iam::111122223333:role/app"}
	type row struct {
		principal string
		id        Identity
		want      bool
	}
	tests := []row{
		{`"Principal":"*"`, cw, true},
		{`"Principal":"*"`, role, true},
		{`"Principal":{"AWS":"*"}`, cw, true},
		{`"Principal":{"AWS":["arn:aws:iam::1:role/x","*"]}`, other, true},
		{`"Principal":{"Service":"cloudwatch.amazonaws.com"}`, cw, true},
		{`"Principal":{"Service":["s3.amazonaws.com","CloudWatch.AmazonAWS.com"]}`, cw, true},
		{`"Principal":{"Service":"s3.amazonaws.com"}`, cw, false},
		{`"Principal":{"Service":"cloudwatch.amazonaws.com"}`, role, false},
		{`"Principal":{"AWS":"arn:aws:iam::111122223333:root"}`, cw, false},
		{`"Principal":{"AWS":"arn:aws:iam::111122223333:root"}`, role, true},
		{`"Principal":{"AWS":"arn:aws:iam::111122223333:root"}`, session, true},
		{`"Principal":{"AWS":"arn:aws:iam::111122223333:root"}`, acct, true},
		{`"Principal":{"AWS":"arn:aws:iam::111122223333:root"}`, other, false},
		{`"Principal":{"AWS":"arn:aws:iam::111122223333:root"}`, gov, false},
		{`"Principal":{"AWS":"111122223333"}`, role, true},
		{`"Principal":{"AWS":"111122223333"}`, gov, true},
		{`"Principal":{"AWS":"111122223333"}`, other, false},
		{`"Principal":{"AWS":"arn:aws:iam::111122223333:role/app"}`, role, true},
		{`"Principal":{"AWS":"arn:aws:iam::111122223333:role/app"}`, session, true},
		{`"Principal":{"AWS":"arn:aws:iam::111122223333:role/team/app"}`, session, true},
		{`"Principal":{"AWS":"arn:aws:iam::111122223333:role/app2"}`, session, false},
		{`"Principal":{"AWS":"arn:aws:iam::111122223333:role/app"}`, acct, false},
		{`"Principal":{"AWS":"arn:aws:iam::111122223333:user/app"}`, role, false},
		{`"Principal":{"Federated":"cognito-identity.amazonaws.com"}`, cw, false},
		{`"Principal":{}`, cw, false},
		{`"NotPrincipal":{"Service":"cloudwatch.amazonaws.com"}`, cw, false},
		{`"NotPrincipal":{"Service":"cloudwatch.amazonaws.com"}`, role, true},
		{`"NotPrincipal":{"AWS":"111122223333"}`, session, false},
		{`"NotPrincipal":{"AWS":"111122223333"}`, other, true},
		{`"NotPrincipal":"*"`, cw, false},
		{`"Resource":"*"`, cw, false}, // no principal element: nobody
	}
	for _, tc := range tests {
		s := stmt(t, `{"Effect":"Allow","Action":"a",`+tc.principal+`}`)
		if got := s.MatchesPrincipal(tc.id); got != tc.want {
			t.Errorf("%s MatchesPrincipal(%+v) = %v, want %v", tc.principal, tc.id, got, tc.want)
		}
	}

	acctTests := []row{
		{`"Principal":{"AWS":"arn:aws:iam::111122223333:root"}`, Identity{}, true},
		{`"Principal":{"AWS":"111122223333"}`, Identity{}, true},
		{`"Principal":{"AWS":"*"}`, Identity{}, true},
		{`"Principal":{"AWS":"arn:aws:iam::111122223333:role/app"}`, Identity{}, false},
		{`"Principal":{"Service":"cloudwatch.amazonaws.com"}`, Identity{}, false},
	}
	for _, tc := range acctTests {
		s := stmt(t, `{"Effect":"Allow","Action":"a",`+tc.principal+`}`)
		if got := s.MatchesAWSAccount("111122223333"); got != tc.want {
			t.Errorf("%s MatchesAWSAccount = %v, want %v", tc.principal, got, tc.want)
		}
	}
}

func TestAccountOf(t *testing.T) {
	tests := []struct{ in, acct, part string }{
		{"111122223333", "111122223333", ""},
		{"arn:aws:iam::111122223333:root", "111122223333", "aws"},
		{"arn:aws-cn:sts::111122223333:assumed-role/r/s", "111122223333", "aws-cn"},
		{"arn:aws:s3:::bucket", "", ""},
		{"cloudwatch.amazonaws.com", "", ""},
		{"11112222333", "", ""},
	}
	for _, tc := range tests {
		if a, p := AccountOf(tc.in); a != tc.acct || p != tc.part {
			t.Errorf("AccountOf(%q) = %q, %q; want %q, %q", tc.in, a, p, tc.acct, tc.part)
		}
	}
}

func TestOwnService(t *testing.T) {
	tests := []struct {
		principal string
		want      string
		ok        bool
	}{
		{`"Principal":{"Service":"s3.amazonaws.com"}`, "s3.amazonaws.com", true},
		{`"Principal":{"Service":["s3.amazonaws.com"]}`, "s3.amazonaws.com", true},
		{`"Principal":{"Service":["s3.amazonaws.com","sns.amazonaws.com"]}`, "", false},
		{`"Principal":{"Service":"s3.amazonaws.com","AWS":"111122223333"}`, "", false},
		{`"Principal":{"Service":"s3.amazonaws.com","AWS":[]}`, "s3.amazonaws.com", true},
		{`"Principal":{"Service":"s3.amazonaws.com","Federated":"x"}`, "", false},
		{`"Principal":{"Service":"*"}`, "", false},
		{`"Principal":"*"`, "", false},
		{`"Principal":{"AWS":"*"}`, "", false},
		{`"NotPrincipal":{"Service":"s3.amazonaws.com"}`, "", false},
		{`"Resource":"*"`, "", false},
	}
	for _, tc := range tests {
		got, ok := stmt(t, `{"Effect":"Allow","Action":"a",`+tc.principal+`}`).OwnService()
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s OwnService = %q, %v; want %q, %v", tc.principal, got, ok, tc.want, tc.ok)
		}
	}
}

func TestEqual(t *testing.T) {
	base := `{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},` +
		`{"Sid":"b","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"},"ArnLike":{"aws:SourceArn":"arn:aws:s3:::b"}}}]}`
	tests := []struct {
		name, other string
		want        bool
	}{
		{"identical", base, true},
		{"reordered statements, members, arrays, case, forms", `{"Statement":[
			{"Resource":["*"],"Action":["KMS:DECRYPT","kms:generateDataKey*","kms:Decrypt"],"Effect":"allow","Sid":"b","Principal":{"Service":["S3.amazonaws.com"]},
			 "Condition":{"arnlike":{"AWS:SourceArn":["arn:aws:s3:::b"]},"StringEquals":{"aws:sourceaccount":"111122223333"}}},
			{"Sid":"a","Effect":"Allow","Principal":{"AWS":["111122223333"]},"Action":["kms:*"],"Resource":"*"}],"Version":"2012-10-17"}`, true},
		{"different Sid", strings1(base, `"Sid":"a"`, `"Sid":"z"`), false},
		{"different Effect", strings1(base, `"Effect":"Allow","Principal":{"Service"`, `"Effect":"Deny","Principal":{"Service"`), false},
		{"different Version", strings1(base, `2012-10-17`, `2008-10-17`), false},
		{"other account", strings1(base, `iam::111122223333:root`, `iam::444455556666:root`), false},
		{"resource case matters", strings1(base, `arn:aws:s3:::b`, `arn:aws:s3:::B`), false},
		{"extra condition value", strings1(base, `"arn:aws:s3:::b"`, `["arn:aws:s3:::b","arn:aws:s3:::c"]`), false},
		{"operator changed", strings1(base, `ArnLike`, `ArnEquals`), false},
		{"dropped statement", `{"Version":"2012-10-17","Statement":{"Sid":"a","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}}`, false},
		{"NotAction is not Action", strings1(base, `"Action":"kms:*"`, `"NotAction":"kms:*"`), false},
		{"unknown member", strings1(base, `"Sid":"a",`, `"Sid":"a","x":{"b":1,"a":2},`), false},
	}
	for _, tc := range tests {
		got, err := Equal([]byte(base), []byte(tc.other))
		if err != nil || got != tc.want {
			t.Errorf("%s: Equal = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	star := []struct {
		a, b string
		want bool
	}{
		{`{"Statement":{"Effect":"Allow","Principal":"*","Action":"a"}}`, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["a"]}]}`, true},
		{`{"Statement":{"Effect":"Allow","Principal":"*","Action":"a"}}`, `{"Statement":{"Effect":"Allow","NotPrincipal":"*","Action":"a"}}`, false},
		{`{"Statement":{"Effect":"Allow","Principal":{},"Action":"a"}}`, `{"Statement":{"Effect":"Allow","Action":"a"}}`, false},
		{`{"Statement":{"Effect":"Allow","Action":"a","x":{"b":1,"a":[1,2]}}}`, `{"Statement":{"x":{"a":[1,2],"b":1},"Effect":"Allow","Action":"a"}}`, true},
		{`{"Statement":[{"Effect":"Allow","Action":"a"},{"Effect":"Allow","Action":"a"}]}`, `{"Statement":{"Effect":"Allow","Action":"a"}}`, false},
		{`{"Statement":{"Effect":"Allow","Action":"a","Condition":{"Bool":{"k":true}}}}`, `{"Statement":{"Effect":"Allow","Action":"a","Condition":{"Bool":{"k":"true"}}}}`, true},
	}
	for _, tc := range star {
		got, err := Equal([]byte(tc.a), []byte(tc.b))
		if err != nil || got != tc.want {
			t.Errorf("Equal(%s, %s) = %v, %v; want %v", tc.a, tc.b, got, err, tc.want)
		}
	}
	if _, err := Equal([]byte(`{}`), []byte(base)); err == nil || err.Error() != "first policy: policy has no Statement" {
		t.Errorf("Equal with a bad first policy: err = %v", err)
	}
	if _, err := Equal([]byte(base), []byte(`x`)); err == nil || err.Error()[:14] != "second policy:" {
		t.Errorf("Equal with a bad second policy: err = %v", err)
	}
}

// strings1 replaces exactly the first occurrence, and fails loudly in the
// table if the text is not there (a vacuous mutation would pass as "equal").
func strings1(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	panic("strings1: " + old + " not found")
}
