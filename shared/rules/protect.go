package rules

import (
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/policy"
)

// Confused-deputy condition keys. SNS's request to KMS on behalf of a
// service carries both; EventBridge's carries neither.
const (
	KeySourceAccount = "aws:SourceAccount"
	KeySourceARN     = "aws:SourceArn"
)

// SourceRestricted reports whether statement s protects a service
// principal's grant with key (KeySourceAccount or KeySourceARN): some entry of
// its Condition passes ProtectsSource. The judge (CONFUSED_DEPUTY_MISSING) and
// the planner (which adds the condition exactly when this is false) both ask
// this one question, so a finding the planner can fix is gone once it has.
func SourceRestricted(s *policy.Statement, key string) bool {
	for _, b := range s.Condition {
		for _, k := range b.Keys {
			if strings.EqualFold(strings.TrimSpace(k.Key), key) && ProtectsSource(b.Operator, key, k.Values.Items) {
				return true
			}
		}
	}
	return false
}

// ProtectsSource reports whether one condition entry (operator, key, values)
// confines key to named accounts' sources, so that resources of any other
// account cannot make the service use the key. It holds when:
//
//   - the operator is a known, positive one that is false when the key is
//     absent: not negated, not ...IfExists, not ForAllValues: (all three pass a
//     request without the key; IAM condition operators page,
//     https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html);
//   - it compares the value as a string or an ARN: String{Equals,
//     EqualsIgnoreCase,Like} or Arn{Equals,Like}, on either key. The same page
//     says "The ARN is considered a string" for the ARN operators and
//     recommends string operators where an ARN operator would not match, so
//     both families compare both keys; whatever an ARN operator does with a
//     12-digit account id, it can only match the values it names. Numeric,
//     Date, Bool, Binary, IpAddress and Null do not name sources;
//   - no value lets every account through: an empty value, one that is only
//     "*", a value naming the key itself as a policy variable
//     ("${aws:SourceAccount}" always equals itself), and for the
//     pattern-matching operators (StringLike, ArnLike, ArnEquals) an account
//     pattern every 12-digit id matches ("????????????", "*") or an ARN pattern
//     whose account field does (arn:aws:cloudwatch:*:*:alarm:*). Values are
//     ORed, so one such value opens the entry. A StringLike ARN pattern with a
//     "*" before its account field does not pin the account either: StringLike
//     wildcards span colons (the same page's example: the first "*" of
//     arn:aws:someservice:*:111122223333:finance/* matches
//     "us-east-2:999999999999:store/abc:"). An ARN with an empty account field
//     (S3 buckets, arn:aws:s3:::bucket) restricts: such ARNs carry no
//     account, and aws:SourceAccount does the account scoping.
func ProtectsSource(operator, key string, values []string) bool {
	return protects(policy.ParseOperator(operator), key, values)
}

// protects is ProtectsSource on a parsed operator.
func protects(op policy.Operator, key string, values []string) bool {
	if !op.Known || op.Negated || op.IfExists || op.Qualifier == "ForAllValues" {
		return false
	}
	like := false
	switch op.Base {
	case "StringEquals", "StringEqualsIgnoreCase":
	case "StringLike", "ArnEquals", "ArnLike":
		like = true
	default:
		return false
	}
	if len(values) == 0 {
		return false
	}
	arnKey := strings.EqualFold(strings.TrimSpace(key), KeySourceARN)
	stringOp := strings.HasPrefix(op.Base, "String")
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" || wildcardOnly(v) || selfVariable(v, key) {
			return false
		}
		if !like {
			continue // compared literally: names one value, perhaps a foreign one
		}
		if !arnKey {
			if matchesEveryAccount(v) {
				return false
			}
			continue
		}
		if !armsAccount(v, stringOp) {
			return false
		}
	}
	return true
}

// armsAccount reports whether an aws:SourceArn pattern (of a pattern-matching
// operator) confines the account field: a six-field ARN whose account field
// is empty (an account-less ARN) or not matched by every 12-digit id, and,
// for StringLike, with no "*" before it that could span fields.
func armsAccount(v string, stringOp bool) bool {
	var colon [5]int // the first five colons: the account field lies between the 4th and 5th
	n := 0
	for i := 0; i < len(v) && n < len(colon); i++ {
		if v[i] == ':' {
			colon[n] = i
			n++
		}
	}
	if n < len(colon) {
		return !hasWildcard(v) // a short literal matches itself only
	}
	if stringOp && strings.Contains(v[:colon[4]], "*") {
		return false
	}
	return !matchesEveryAccount(v[colon[3]+1 : colon[4]])
}

// matchesEveryAccount reports whether a wildcard pattern matches every
// 12-digit account id: only if it is made of wildcards alone (any literal
// character is missing from some id), with exactly twelve "?" or at most
// twelve "?" and a "*".
func matchesEveryAccount(p string) bool {
	if p == "" || strings.Trim(p, "*?") != "" {
		return false
	}
	q := strings.Count(p, "?")
	return q == 12 || (q < 12 && strings.Contains(p, "*"))
}

// selfVariable reports whether v uses key itself as a policy variable, which
// makes the comparison true for whatever value the request carries.
func selfVariable(v, key string) bool {
	key = strings.TrimSpace(key)
	for i := strings.Index(v, "${"); i >= 0; {
		rest := v[i+2:]
		if len(rest) >= len(key) && strings.EqualFold(rest[:len(key)], key) {
			return true
		}
		j := strings.Index(rest, "${")
		if j < 0 {
			break
		}
		i += 2 + j
	}
	return false
}
