package policy

import "strings"

// StringFamily and ARNFamily say which operator bases can restrict a
// condition key by its value: an account id (aws:SourceAccount) is a string,
// so only String* operators compare it as written; an ARN (aws:SourceArn) may
// be compared by ARN operators or as a string. The judge (rules) and the
// planner (plan) must share this notion: where they differ, a finding stays
// fixable forever while the planner changes nothing.
func StringFamily(base string) bool { return strings.HasPrefix(base, "String") }

// ARNFamily: see StringFamily.
func ARNFamily(base string) bool {
	return strings.HasPrefix(base, "Arn") || strings.HasPrefix(base, "String")
}

// Restricting reports whether an operator can restrict a request on a key
// of the given family: a known, positive operator that is not IfExists (an
// absent key passes it) and not ForAllValues (an absent key passes it too).
func Restricting(op Operator, family func(base string) bool) bool {
	return op.Known && !op.Negated && !op.IfExists && op.Qualifier != "ForAllValues" && family(op.Base)
}
