package policy

import (
	"strings"
	"unicode/utf8"
)

// relateShape compares one policy value p with every value a key can take
// when that value is only known to match shape (an IAM pattern): True when p
// matches all of them under the positive base operator, False when it
// matches none, Unknown otherwise. Both answers are proved, never guessed:
// True needs a proof that p covers shape, False a proof that the two
// patterns share no string; anything else stays Unknown.
func relateShape(base, p, shape string) Tri {
	switch base {
	case "StringEquals":
		if !hasWild(shape) {
			return triOf(p == shape)
		}
		// p is literal here: it is a possible value or it is not.
		if !MatchWildcard(shape, p) {
			return False
		}
		return Unknown
	case "StringEqualsIgnoreCase":
		if !hasWild(shape) {
			return triOf(strings.EqualFold(p, shape))
		}
		if !MatchWildcardFold(shape, p) {
			return False
		}
		return Unknown
	case "StringLike":
		return relatePatterns(p, shape)
	case "ArnEquals", "ArnLike":
		if p == "*" {
			return True
		}
		pp, ok := arnFields(p)
		if !ok {
			return relatePatterns(p, shape)
		}
		sp, ok := arnFields(shape)
		if !ok {
			// Every value matches shape but none parses as an ARN
			// unless shape allows it; stay undecided.
			return Unknown
		}
		res := True
		for i := range pp {
			switch relatePatterns(pp[i], sp[i]) {
			case False:
				return False
			case Unknown:
				res = Unknown
			}
		}
		return res
	}
	return Unknown
}

// relatePatterns: True when pattern p matches every string that shape
// matches, False when no string matches both, else Unknown.
func relatePatterns(p, shape string) Tri {
	if patternCovers(p, shape) {
		return True
	}
	if !patternsIntersect(p, shape) {
		return False
	}
	return Unknown
}

func hasWild(s string) bool { return strings.ContainsAny(s, "*?") }

// patternsIntersect reports whether some string matches both IAM patterns
// (* any sequence, ? one character, everything else literal and
// case-sensitive). It explores the product of the two patterns' automata, so
// it is exact for ASCII. For a pattern with other bytes only a literal
// prefix or suffix the two patterns spell differently (rune by rune, as
// MatchWildcard compares them) proves them disjoint; otherwise they are
// assumed to intersect, which can only leave a verdict Unknown.
func patternsIntersect(a, b string) bool {
	if !isASCII(a) || !isASCII(b) {
		return !literalEndsDiffer(a, b)
	}
	n, m := len(a), len(b)
	seen := make([]bool, (n+1)*(m+1))
	stack := []int{0}
	seen[0] = true
	push := func(i, j int) {
		if k := i*(m+1) + j; !seen[k] {
			seen[k] = true
			stack = append(stack, k)
		}
	}
	for len(stack) > 0 {
		k := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i, j := k/(m+1), k%(m+1)
		if i == n && j == m {
			return true
		}
		// A star may match the empty string.
		if i < n && a[i] == '*' {
			push(i+1, j)
		}
		if j < m && b[j] == '*' {
			push(i, j+1)
		}
		// Both consume one common character.
		if i < n && j < m {
			ca, cb := a[i], b[j]
			if ca != '*' && ca != '?' && cb != '*' && cb != '?' && ca != cb {
				continue
			}
			ni, nj := i+1, j+1
			if ca == '*' {
				ni = i
			}
			if cb == '*' {
				nj = j
			}
			push(ni, nj)
		}
	}
	return false
}

// patternCovers reports whether every string matching shape also matches
// pattern p. It matches p against shape read as symbols: a literal matches
// itself, p's ? matches one literal or one ?, p's * matches any run of
// symbols (stars included). That is a sound proof of cover; a cover it
// cannot prove (p = "**?" over shape "?*") is reported false, which leaves
// the caller's verdict Unknown rather than wrong.
func patternCovers(p, shape string) bool {
	if strings.Trim(p, "*") == "" && p != "" {
		return true
	}
	if !isASCII(p) || !isASCII(shape) {
		return !hasWild(shape) && MatchWildcard(p, shape)
	}
	n, m := len(p), len(shape)
	// dp[j]: p[i:] covers shape[j:], computed from i = n down to 0.
	dp := make([]bool, m+1)
	next := make([]bool, m+1)
	dp[m] = true // empty p covers only the empty shape
	for i := n - 1; i >= 0; i-- {
		next, dp = dp, next
		// now next holds row i+1; fill dp as row i.
		for j := m; j >= 0; j-- {
			switch c := p[i]; {
			case c == '*':
				dp[j] = next[j] || (j < m && dp[j+1])
			case j == m:
				dp[j] = false
			case c == '?':
				dp[j] = shape[j] != '*' && next[j+1]
			default:
				dp[j] = shape[j] == c && next[j+1]
			}
		}
	}
	return dp[0]
}

// literalEndsDiffer reports whether a and b, read rune by rune from the
// start or from the end, differ before either reaches a wildcard: no string
// then matches both.
func literalEndsDiffer(a, b string) bool {
	for x, y := a, b; x != "" && y != ""; {
		ra, na := utf8.DecodeRuneInString(x)
		rb, nb := utf8.DecodeRuneInString(y)
		if ra == '*' || ra == '?' || rb == '*' || rb == '?' {
			break
		}
		if ra != rb {
			return true
		}
		x, y = x[na:], y[nb:]
	}
	for x, y := a, b; x != "" && y != ""; {
		ra, na := utf8.DecodeLastRuneInString(x)
		rb, nb := utf8.DecodeLastRuneInString(y)
		if ra == '*' || ra == '?' || rb == '*' || rb == '?' {
			break
		}
		if ra != rb {
			return true
		}
		x, y = x[:len(x)-na], y[:len(y)-nb]
	}
	return false
}
