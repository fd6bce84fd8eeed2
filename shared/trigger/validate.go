package trigger

import "strings"

// Hand-written validators: the regular expressions they replace cost several
// milliseconds of package init (compiled bounded repetitions) on every cold start.

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
func isWord(c byte) bool {
	return isDigit(c) || isLower(c) || c >= 'A' && c <= 'Z' || c == '_' || c == '-'
}

func allIn(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// validRegion: ^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$ (us-east-1, us-gov-west-1, cn-north-1).
func validRegion(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || len(parts[0]) != 2 || !allIn(parts[0], isLower) {
		return false
	}
	last := parts[len(parts)-1]
	if len(last) < 1 || len(last) > 2 || !allIn(last, isDigit) {
		return false
	}
	for _, p := range parts[1 : len(parts)-1] {
		if p == "" || !allIn(p, isLower) {
			return false
		}
	}
	return true
}

// validTopicName: ^[A-Za-z0-9_-]+(\.fifo)?$.
func validTopicName(s string) bool {
	s = strings.TrimSuffix(s, ".fifo")
	return s != "" && allIn(s, isWord)
}

// validKeyID: a UUID (8-4-4-4-12 hex) or mrk- and 32 hex digits.
func validKeyID(s string) bool {
	if rest, ok := strings.CutPrefix(s, "mrk-"); ok {
		return len(rest) == 32 && allIn(rest, isHex)
	}
	parts := strings.Split(s, "-")
	if len(parts) != 5 {
		return false
	}
	for i, n := range []int{8, 4, 4, 4, 12} {
		if len(parts[i]) != n || !allIn(parts[i], isHex) {
			return false
		}
	}
	return true
}

// validAliasName: ^alias/[A-Za-z0-9/_-]{1,250}$.
func validAliasName(s string) bool {
	rest, ok := strings.CutPrefix(s, "alias/")
	return ok && len(rest) >= 1 && len(rest) <= 250 && allIn(rest, func(c byte) bool { return isWord(c) || c == '/' })
}
