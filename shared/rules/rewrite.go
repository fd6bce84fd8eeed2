package rules

import (
	"slices"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/policy"
)

// ExactlySNSActions reports whether the statement's actions are no more
// than kms:GenerateDataKey* and kms:Decrypt, as the SNS documentation grants.
func ExactlySNSActions(s *policy.Statement) bool {
	if s.NotAction != nil || s.Action == nil || len(s.Action.Items) == 0 {
		return false
	}
	for _, a := range s.Action.Items {
		switch strings.ToLower(a) {
		case "kms:generatedatakey*", "kms:generatedatakey", "kms:decrypt":
		default:
			return false
		}
	}
	return true
}

// RewriteRefused reports whether adding the confused-deputy conditions to a
// principal's own statement (aws:SourceAccount accounts, aws:SourceArn arns,
// for the keys it does not restrict yet) is refused: the statement grants
// more than SNS needs and one of them would replace an entry that does not
// already match every new value, so the statement would apply where it
// never did. The planner then leaves the statement and grants the principal
// in our own statement; the judge reports the statement's missing
// protection for an operator to fix (not fixable), so one fix converges.
func RewriteRefused(s *policy.Statement, accounts, arns []string) bool {
	if ExactlySNSActions(s) {
		return false
	}
	return (!SourceRestricted(s, KeySourceAccount) && replaceWidens(s, "StringEquals", KeySourceAccount, accounts)) ||
		(!SourceRestricted(s, KeySourceARN) && replaceWidens(s, "ArnLike", KeySourceARN, arns))
}

// replaceWidens reports whether setting operator/key to vals would replace
// an existing entry that does not already match every new value: an entry
// that matched less (ArnLike "" matches no source at all) would then let the
// statement apply where it never did.
func replaceWidens(s *policy.Statement, operator, key string, vals []string) bool {
	for _, b := range s.Condition {
		if !strings.EqualFold(b.Operator, operator) {
			continue
		}
		for _, k := range b.Keys {
			if !strings.EqualFold(strings.TrimSpace(k.Key), key) {
				continue
			}
			// A value that names the key itself as a variable
			// ("${aws:SourceAccount}") matches every value of the key.
			self := "${" + strings.ToLower(key) + "}"
			if slices.ContainsFunc(k.Values.Items, func(old string) bool { return strings.ToLower(strings.TrimSpace(old)) == self }) {
				continue
			}
			// Does the entry, read with its own operator, match each new
			// value? StringEquals "*" is the literal text "*" and matches no
			// account; ArnLike patterns match ours as text when at least as
			// broad.
			entry := policy.Conditions{{Operator: b.Operator, Keys: []policy.ConditionKey{k}}}
			for _, v := range vals {
				ctx := policy.NewContext()
				ctx.Set(key, v)
				if entry.Eval(ctx) != policy.True {
					return true
				}
			}
		}
	}
	return false
}
