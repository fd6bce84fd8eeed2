package rules_test

import (
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// TestProtectsSource pins which condition entries confine the
// confused-deputy keys (see ProtectsSource for the AWS documentation).
func TestProtectsSource(t *testing.T) {
	const acct, arn = rules.KeySourceAccount, rules.KeySourceARN
	for _, c := range []struct {
		op, key string
		values  []string
		want    bool
	}{
		{"StringEquals", acct, []string{"111122223333"}, true},
		{"stringequals", "AWS:SOURCEACCOUNT", []string{"111122223333"}, true},
		{"StringEqualsIgnoreCase", acct, []string{"111122223333"}, true},
		{"StringLike", acct, []string{"1111222233*"}, true},
		{"ArnEquals", acct, []string{"111122223333"}, true},
		{"ArnLike", acct, []string{"111122223333"}, true},
		{"ForAnyValue:StringEquals", acct, []string{"111122223333"}, true},
		{"StringEquals", acct, []string{"${aws:ResourceAccount}"}, true},
		{"StringEquals", acct, []string{"????????????"}, true}, // literal: names one (odd) value
		{"StringLike", acct, []string{"????????????"}, false},
		{"StringLike", acct, []string{"?????*"}, false},
		{"ArnLike", acct, []string{"????????????"}, false},
		{"StringLike", acct, []string{"?????????????"}, true}, // thirteen: matches no account
		{"StringLike", acct, []string{"111122223333", "*"}, false},
		{"StringEquals", acct, []string{"*"}, false},
		{"StringEquals", acct, []string{""}, false},
		{"StringEquals", acct, nil, false},
		{"StringEquals", acct, []string{"${aws:SourceAccount}"}, false},
		{"StringEqualsIfExists", acct, []string{"111122223333"}, false},
		{"StringNotEquals", acct, []string{"999988887777"}, false},
		{"ForAllValues:StringEquals", acct, []string{"111122223333"}, false},
		{"NumericEquals", acct, []string{"111122223333"}, false},
		{"Null", acct, []string{"false"}, false},
		{"StringEqualsWhatever", acct, []string{"111122223333"}, false},

		{"ArnLike", arn, []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}, true},
		{"ArnEquals", arn, []string{"arn:aws:cloudwatch:*:111122223333:alarm:*"}, true},
		{"StringEquals", arn, []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:orders"}, true},
		{"StringLike", arn, []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}, true},
		{"ArnLike", arn, []string{"arn:aws:s3:::orders-*"}, true},
		{"ArnLike", arn, []string{"arn:aws:s3:::*"}, true}, // S3 ARNs carry no account: aws:SourceAccount scopes them
		{"ArnLike", arn, []string{"arn:aws:*:us-east-1:111122223333:*"}, true},
		{"ArnLike", arn, []string{"arn:aws:cloudwatch:*:*:alarm:*"}, false},
		{"ArnLike", arn, []string{"arn:aws:cloudwatch:us-east-1:????????????:alarm:*"}, false},
		{"StringLike", arn, []string{"arn:aws:cloudwatch:*:111122223333:alarm:*"}, false}, // "*" spans colons
		{"StringLike", arn, []string{"arn:aws:*"}, false},
		{"ArnLike", arn, []string{"arn:aws:cloudwatch:*"}, false},
		{"ArnLike", arn, []string{"*"}, false},
		{"ArnLike", arn, []string{"${aws:SourceArn}"}, false},
		{"ArnLikeIfExists", arn, []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}, false},
		{"ArnNotLike", arn, []string{"arn:aws:cloudwatch:us-east-1:999988887777:alarm:*"}, false},
	} {
		if got := rules.ProtectsSource(c.op, c.key, c.values); got != c.want {
			t.Errorf("ProtectsSource(%s, %s, %q) = %v, want %v", c.op, c.key, c.values, got, c.want)
		}
	}
	// SourceRestricted finds the entry among others, key case-insensitively.
	s := &policy.Statement{Condition: policy.Conditions{
		{Operator: "StringLike", Keys: []policy.ConditionKey{{Key: "aws:sourceaccount", Values: policy.Values{Items: []string{"*"}}}}},
		{Operator: "ArnEquals", Keys: []policy.ConditionKey{{Key: "AWS:SourceAccount", Values: policy.Values{Items: []string{"111122223333"}}}}},
	}}
	if !rules.SourceRestricted(s, acct) || rules.SourceRestricted(s, arn) {
		t.Errorf("SourceRestricted: account %v, arn %v", rules.SourceRestricted(s, acct), rules.SourceRestricted(s, arn))
	}
}
