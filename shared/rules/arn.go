package rules

import "strings"

// arnParts is an ARN split into its fixed segments. The resource keeps any
// further colons (alarm ARNs, key ARNs with aliases).
type arnParts struct {
	Partition, Service, Region, Account, Resource string
}

// parseARN splits arn:<partition>:<service>:<region>:<account>:<resource>.
// Comparing ARNs segment by segment (rather than by prefix) keeps a key in
// aws-cn from passing as the same region as a topic in aws.
func parseARN(s string) (arnParts, bool) {
	parts := strings.SplitN(strings.TrimSpace(s), ":", 6)
	if len(parts) != 6 || !strings.EqualFold(parts[0], "arn") {
		return arnParts{}, false
	}
	return arnParts{parts[1], parts[2], parts[3], parts[4], parts[5]}, true
}

// isAccountID reports whether s is a 12-digit AWS account id.
func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// hasWildcard reports whether an IAM pattern contains * or ?.
func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?") }

// wildcardOnly reports whether a condition value matches anything ("*",
// "**"): such a value restricts nothing.
func wildcardOnly(s string) bool {
	s = strings.TrimSpace(s)
	return s != "" && strings.Trim(s, "*") == ""
}

// awsManagedAlias reports whether a KmsMasterKeyId names an AWS managed key
// by its reserved alias (alias/aws/sns or any alias/aws/...), as an alias name
// or alias ARN, in any case and with stray spaces.
func awsManagedAlias(named string) bool {
	n := strings.ToLower(strings.TrimSpace(named))
	if a, ok := parseARN(n); ok {
		n = a.Resource
	}
	return strings.HasPrefix(n, "alias/aws/")
}

// accountOf returns the account an AWS principal belongs to: the id itself,
// or the account segment of its ARN ("" when unknown, e.g. a unique id).
func accountOf(principal string) string {
	p := strings.TrimSpace(principal)
	if isAccountID(p) {
		return p
	}
	if a, ok := parseARN(p); ok && isAccountID(a.Account) {
		return a.Account
	}
	return ""
}

// rootARN is the principal that stands for a whole account in a key policy
// (delegation to IAM).
func rootARN(partition, account string) string {
	if partition == "" {
		partition = "aws"
	}
	return "arn:" + partition + ":iam::" + account + ":root"
}
