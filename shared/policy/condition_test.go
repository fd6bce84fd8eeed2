package policy

import (
	"fmt"
	"testing"
)

func TestParseOperator(t *testing.T) {
	tests := []struct {
		in   string
		want Operator
	}{
		{"StringEquals", Operator{Base: "StringEquals", Known: true}},
		{"stringequals", Operator{Base: "StringEquals", Known: true}},
		{"StringNotLike", Operator{Base: "StringLike", Negated: true, Known: true}},
		{"ForAnyValue:StringNotLikeIfExists", Operator{Base: "StringLike", Negated: true, IfExists: true, Qualifier: "ForAnyValue", Known: true}},
		{"forallvalues:stringequalsignorecaseifexists", Operator{Base: "StringEqualsIgnoreCase", IfExists: true, Qualifier: "ForAllValues", Known: true}},
		{"StringNotEqualsIgnoreCase", Operator{Base: "StringEqualsIgnoreCase", Negated: true, Known: true}},
		{"ArnLikeIfExists", Operator{Base: "ArnLike", IfExists: true, Known: true}},
		{"ArnNotEquals", Operator{Base: "ArnEquals", Negated: true, Known: true}},
		{"NotIpAddress", Operator{Base: "IpAddress", Negated: true, Known: true}},
		{"NumericGreaterThanEqualsIfExists", Operator{Base: "NumericGreaterThanEquals", IfExists: true, Known: true}},
		{"DateNotEquals", Operator{Base: "DateEquals", Negated: true, Known: true}},
		{"Bool", Operator{Base: "Bool", Known: true}},
		{"BinaryEquals", Operator{Base: "BinaryEquals", Known: true}},
		{"Null", Operator{Base: "Null", Known: true}},
		{"NullIfExists", Operator{Base: "Null", IfExists: true}},
		{"IfExists", Operator{Base: "IfExists"}},
		{"StringSoundsLike", Operator{Base: "StringSoundsLike"}},
		{"Sometimes:StringEquals", Operator{Base: "Sometimes:StringEquals"}},
	}
	for _, tc := range tests {
		if got := ParseOperator(tc.in); got != tc.want {
			t.Errorf("ParseOperator(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// snsContext is the request context SNS creates when it calls KMS for
// CloudWatch (docs/DESIGN.md), with aws:SourceArn unknown (any alarm), closed:
// every key it does not name is absent.
func snsContext() Context {
	c := NewContext()
	c.SetOthersAbsent()
	c.Set("aws:PrincipalIsAWSService", "true")
	c.Set("aws:PrincipalServiceName", "cloudwatch.amazonaws.com")
	c.Set("aws:SourceAccount", "111122223333")
	c.SetUnknown("aws:SourceArn")
	c.Set("aws:ResourceAccount", "111122223333")
	c.Set("kms:ViaService", "sns.us-east-1.amazonaws.com")
	c.Set("kms:EncryptionContext:aws:sns:topicArn", "arn:aws:sns:us-east-1:111122223333:orders")
	c.Set("aws:SourceIp", "203.0.113.7")
	c.Set("aws:CurrentTime", "2025-06-01T12:00:00Z")
	c.Set("aws:EpochTime", "1748779200")
	c.Set("kms:GrantCount", "3")
	c.Set("aws:TagKeys", "env", "team")
	c.Set("aws:EmptySet")
	c.Set("binary", "aGVsbG8=")
	return c
}

func TestEvalCondition(t *testing.T) {
	tests := []struct {
		cond string
		want Tri
	}{
		// Empty and absent blocks.
		{`{}`, True},
		// String family, case-insensitive operator and key names, values ORed.
		{`{"StringEquals":{"aws:SourceAccount":"111122223333"}}`, True},
		{`{"stringequals":{"AWS:SOURCEACCOUNT":["444455556666","111122223333"]}}`, True},
		{`{"StringEquals":{"aws:SourceAccount":"444455556666"}}`, False},
		{`{"StringEquals":{"aws:PrincipalServiceName":"CloudWatch.amazonaws.com"}}`, False},
		{`{"StringEqualsIgnoreCase":{"aws:PrincipalServiceName":"CloudWatch.amazonaws.com"}}`, True},
		{`{"StringNotEqualsIgnoreCase":{"aws:PrincipalServiceName":"CloudWatch.amazonaws.com"}}`, False},
		{`{"StringLike":{"kms:ViaService":"sns.*.amazonaws.com"}}`, True},
		{`{"StringLike":{"kms:ViaService":"SNS.*"}}`, False},
		{`{"StringNotLike":{"kms:ViaService":"sqs.*"}}`, True},
		{`{"StringNotEquals":{"aws:SourceAccount":"111122223333"}}`, False},
		{`{"StringNotEquals":{"aws:SourceAccount":["444455556666","111122223333"]}}`, False},
		// Keys and operators ANDed; a False wins over an Unknown.
		{`{"StringEquals":{"aws:SourceAccount":"111122223333","kms:ViaService":"sns.us-east-1.amazonaws.com"}}`, True},
		{`{"StringEquals":{"aws:SourceAccount":"111122223333"},"Bool":{"aws:PrincipalIsAWSService":"false"}}`, False},
		{`{"ArnEquals":{"aws:SourceArn":"arn:aws:cloudwatch:*"},"StringEquals":{"aws:SourceAccount":"x"}}`, False},
		// Absent keys.
		{`{"StringEquals":{"kms:CallerAccount":"111122223333"}}`, False},
		{`{"StringEqualsIfExists":{"kms:CallerAccount":"111122223333"}}`, True},
		{`{"StringEqualsIfExists":{"aws:SourceAccount":"444455556666"}}`, False},
		{`{"StringNotEquals":{"kms:CallerAccount":"111122223333"}}`, True},
		{`{"NotIpAddress":{"aws:VpcSourceIp":"10.0.0.0/8"}}`, True},
		{`{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/x"}}`, True},
		{`{"NumericLessThan":{"absent":"5"}}`, False},
		{`{"ForAllValues:StringEquals":{"absent":"x"}}`, True},
		{`{"ForAnyValue:StringEquals":{"absent":"x"}}`, False},
		// ...IfExists says true, ForAnyValue false; no page says which wins.
		{`{"ForAnyValue:StringEqualsIfExists":{"absent":"x"}}`, Unknown},
		{`{"ForAllValues:StringEqualsIfExists":{"absent":"x"}}`, True},
		{`{"ForAnyValue:StringNotEquals":{"absent":"x"}}`, False},
		// Null tests presence only; unknown values are present.
		{`{"Null":{"kms:CallerAccount":"true"}}`, True},
		{`{"Null":{"kms:CallerAccount":"false"}}`, False},
		{`{"Null":{"aws:SourceArn":"true"}}`, False},
		{`{"Null":{"aws:SourceArn":false}}`, True},
		{`{"Null":{"aws:SourceAccount":["true","false"]}}`, True},
		// Unknown values.
		{`{"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}`, Unknown},
		{`{"ArnLike":{"aws:SourceArn":"*"}}`, True},
		{`{"ArnEquals":{"aws:SourceArn":["x","*"]}}`, True},
		{`{"StringLike":{"aws:SourceArn":"*"}}`, True},
		{`{"StringEquals":{"aws:SourceArn":"*"}}`, Unknown},
		{`{"ArnNotLike":{"aws:SourceArn":"*"}}`, False},
		{`{"StringNotLike":{"aws:SourceArn":"*"}}`, False},
		{`{"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::*"}}`, Unknown},
		{`{"StringNotEquals":{"aws:SourceArn":"*"}}`, Unknown},
		{`{"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:s3:::*"}}`, Unknown},
		{`{"Bool":{"aws:SourceArn":"true"}}`, Unknown},
		{`{"StringEquals":{"aws:SourceAccount":"111122223333"},"ArnLike":{"aws:SourceArn":"arn:*"}}`, Unknown},
		// Unknown operator.
		{`{"StringSoundsLike":{"aws:SourceAccount":"x"}}`, Unknown},
		{`{"NullIfExists":{"aws:SourceAccount":"true"}}`, Unknown},
		// Arn: per-field matching.
		{`{"ArnLike":{"kms:EncryptionContext:aws:sns:topicArn":"arn:aws:sns:*:111122223333:*"}}`, True},
		{`{"ArnLike":{"kms:EncryptionContext:aws:sns:topicArn":"arn:aws:sns:us-east-1:*:ord*"}}`, True},
		{`{"ArnLike":{"kms:EncryptionContext:aws:sns:topicArn":"arn:aws:sns:*:444455556666:*"}}`, False},
		// A star in one field does not swallow the colons of the next.
		{`{"ArnLike":{"kms:EncryptionContext:aws:sns:topicArn":"arn:aws:sns:*:orders:*"}}`, False},
		{`{"StringLike":{"kms:EncryptionContext:aws:sns:topicArn":"arn:aws:sns:*:orders"}}`, True},
		{`{"ArnEquals":{"kms:EncryptionContext:aws:sns:topicArn":"arn:aws:sns:us-east-1:111122223333:orders"}}`, True},
		{`{"ArnLike":{"kms:EncryptionContext:aws:sns:topicArn":"arn:aws:sns:*"}}`, True},
		{`{"ArnLike":{"kms:ViaService":"arn:*:*:*:*:*"}}`, False},
		{`{"ArnNotEquals":{"kms:EncryptionContext:aws:sns:topicArn":"arn:aws:sns:us-east-1:111122223333:other"}}`, True},
		// Numeric.
		{`{"NumericEquals":{"kms:GrantCount":3}}`, True},
		{`{"NumericEquals":{"kms:GrantCount":"3.0"}}`, True},
		{`{"NumericNotEquals":{"kms:GrantCount":3}}`, False},
		{`{"NumericLessThan":{"kms:GrantCount":3}}`, False},
		{`{"NumericLessThan":{"kms:GrantCount":4}}`, True},
		{`{"NumericLessThanEquals":{"kms:GrantCount":3}}`, True},
		{`{"NumericGreaterThan":{"kms:GrantCount":2}}`, True},
		{`{"NumericGreaterThan":{"kms:GrantCount":3}}`, False},
		{`{"NumericGreaterThanEquals":{"kms:GrantCount":"3"}}`, True},
		{`{"NumericEquals":{"kms:GrantCount":"three"}}`, False},
		// Date (ISO 8601 and epoch seconds).
		{`{"DateGreaterThan":{"aws:CurrentTime":"2025-01-01T00:00:00Z"}}`, True},
		{`{"DateLessThan":{"aws:CurrentTime":"2025-01-01T00:00:00Z"}}`, False},
		{`{"DateLessThan":{"aws:CurrentTime":"2026-01-01"}}`, True},
		{`{"DateEquals":{"aws:CurrentTime":"2025-06-01T14:00:00+02:00"}}`, True},
		{`{"DateNotEquals":{"aws:CurrentTime":"2025-06-01T12:00:00Z"}}`, False},
		{`{"DateLessThanEquals":{"aws:EpochTime":"1748779200"}}`, True},
		{`{"DateGreaterThanEquals":{"aws:EpochTime":"2025-06-01T12:00:01Z"}}`, False},
		{`{"DateEquals":{"aws:CurrentTime":"soon"}}`, False},
		// Bool, Binary, IP.
		{`{"Bool":{"aws:PrincipalIsAWSService":true}}`, True},
		{`{"Bool":{"aws:PrincipalIsAWSService":"TRUE"}}`, True},
		{`{"Bool":{"aws:PrincipalIsAWSService":"false"}}`, False},
		{`{"BoolIfExists":{"aws:SecureTransport":"true"}}`, True},
		{`{"BinaryEquals":{"binary":"aGVsbG8="}}`, True},
		{`{"BinaryEquals":{"binary":"aGVsbG9v"}}`, False},
		{`{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","203.0.113.0/24"]}}`, True},
		{`{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}`, True},
		{`{"IpAddress":{"aws:SourceIp":"203.0.113.9/24"}}`, True},
		{`{"IpAddress":{"aws:SourceIp":"::ffff:203.0.113.0/120"}}`, True},
		{`{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, False},
		{`{"IpAddress":{"aws:SourceIp":"not-an-ip"}}`, False},
		{`{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, False},
		// Multi-valued keys.
		{`{"StringEquals":{"aws:TagKeys":"team"}}`, True},
		{`{"StringNotEquals":{"aws:TagKeys":"team"}}`, False},
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["team","owner"]}}`, True},
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["owner"]}}`, False},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env","owner"]}}`, True},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["team"]}}`, False},
		{`{"ForAllValues:StringLike":{"aws:TagKeys":["*e*"]}}`, True},
		{`{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["team"]}}`, True},
		{`{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["team","env"]}}`, False},
		{`{"ForAllValues:StringNotEquals":{"aws:TagKeys":["owner"]}}`, True},
		{`{"ForAllValues:StringNotEquals":{"aws:TagKeys":["env"]}}`, False},
		{`{"ForAllValues:StringEquals":{"aws:EmptySet":"x"}}`, True},
		{`{"ForAnyValue:StringEquals":{"aws:EmptySet":"x"}}`, False},
		{`{"StringEquals":{"aws:EmptySet":"x"}}`, False},
		{`{"StringNotEquals":{"aws:EmptySet":"x"}}`, True},
		{`{"Null":{"aws:EmptySet":"false"}}`, True},
		{`{"ForAllValues:StringLike":{"aws:SourceArn":"*"}}`, True},
		{`{"ForAnyValue:StringEquals":{"aws:SourceArn":"x"}}`, Unknown},
		// Policy variables.
		{`{"StringEquals":{"aws:ResourceAccount":"${aws:SourceAccount}"}}`, True},
		{`{"ArnLike":{"kms:EncryptionContext:aws:sns:topicArn":"arn:aws:sns:*:${aws:ResourceAccount}:*"}}`, True},
		{`{"StringEquals":{"aws:ResourceAccount":"${aws:SourceArn}"}}`, Unknown},
		// A variable naming an absent key fails every comparison with its
		// value: under a positive operator the other values (ORed) still
		// match; a negated operator fails.
		{`{"StringEquals":{"aws:ResourceAccount":"${aws:Missing}"}}`, False},
		{`{"StringNotEquals":{"aws:ResourceAccount":"${aws:Missing}"}}`, False},
		{`{"StringEquals":{"aws:ResourceAccount":["111122223333","${aws:Missing}"]}}`, True},
		{`{"StringEquals":{"aws:ResourceAccount":["${aws:Missing}","777788889999"]}}`, False},
		{`{"StringNotEquals":{"aws:ResourceAccount":["${aws:Missing}","777788889999"]}}`, False},
		{`{"ArnLike":{"aws:SourceArn":["arn:aws:cloudwatch:*:${aws:Missing}:alarm:*","*"]}}`, True},
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["${aws:Missing}","team"]}}`, True},
		{`{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["${aws:Missing}","x"]}}`, False},
		{`{"StringLike":{"aws:SourceArn":["${aws:Missing}"]}}`, False},
		{`{"StringEqualsIfExists":{"aws:Missing2":"${aws:Missing}"}}`, True},
		{`{"StringEquals":{"aws:ResourceAccount":"${aws:Missing, '111122223333'}"}}`, True},
		{`{"StringNotEquals":{"aws:ResourceAccount":"${aws:SourceArn}"}}`, Unknown},
		{`{"NumericEquals":{"kms:GrantCount":"${kms:GrantCount}"}}`, False},
	}
	ctx := snsContext()
	for _, tc := range tests {
		s := stmt(t, `{"Effect":"Deny","Action":"kms:*","Condition":`+tc.cond+`}`)
		if got := s.EvalCondition(ctx); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.cond, got, tc.want)
		}
	}
	// A statement without a Condition block always applies.
	if got := stmt(t, `{"Effect":"Allow","Action":"a"}`).EvalCondition(ctx); got != True {
		t.Errorf("no Condition = %v, want True", got)
	}
	// The zero Context knows no key: whether k is present is unknown.
	if got := stmt(t, `{"Effect":"Allow","Action":"a","Condition":{"StringEquals":{"k":"v"}}}`).EvalCondition(Context{}); got != Unknown {
		t.Errorf("zero Context = %v, want Unknown", got)
	}
}

func TestContextLookup(t *testing.T) {
	c := NewContext()
	c.Set("AWS:SourceAccount", "1")
	c.SetUnknown("aws:SourceArn")
	v, u, ok := c.Lookup("aws:sourceaccount")
	if fmt.Sprint(v, u, ok) != "[1] false true" {
		t.Errorf("Lookup known = %v %v %v", v, u, ok)
	}
	v, u, ok = c.Lookup("AWS:SOURCEARN")
	if fmt.Sprint(v, u, ok) != "[] true true" {
		t.Errorf("Lookup unknown = %v %v %v", v, u, ok)
	}
	c.SetAbsent("kms:CallerAccount")
	if _, _, ok := c.Lookup("kms:CallerAccount"); ok {
		t.Error("absent key found")
	}
	if _, u, ok := c.Lookup("aws:PrincipalTag/team"); !u || !ok {
		t.Error("a key the context does not name is not unknown")
	}
	if True.String() != "True" || Unknown.String() != "Unknown" || False.String() != "False" {
		t.Error("Tri.String")
	}
}
