package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// IsAllow and IsDeny compare Effect case-insensitively.
func (s *Statement) IsAllow() bool { return strings.EqualFold(s.Effect, "Allow") }

// IsDeny reports whether Effect is Deny (any case).
func (s *Statement) IsDeny() bool { return strings.EqualFold(s.Effect, "Deny") }

// MatchesAction reports whether the statement covers the action, honouring
// Action (case-insensitive, * and ? wildcards) and NotAction (covers everything not listed).
func (s *Statement) MatchesAction(action string) bool {
	switch {
	case s.Action != nil:
		return anyMatch(s.Action.Items, action, MatchWildcardFold)
	case s.NotAction != nil:
		return !anyMatch(s.NotAction.Items, action, MatchWildcardFold)
	}
	return false
}

// MatchesResource reports whether the statement covers the resource ARN
// (Resource/NotResource with wildcards; "*" covers all; absent Resource covers all).
// ARNs are matched case-sensitively, as IAM does.
func (s *Statement) MatchesResource(arn string) bool {
	switch {
	case s.Resource != nil:
		return anyMatch(s.Resource.Items, arn, MatchWildcard)
	case s.NotResource != nil:
		return !anyMatch(s.NotResource.Items, arn, MatchWildcard)
	}
	return true
}

func anyMatch(patterns []string, s string, match func(p, s string) bool) bool {
	for _, p := range patterns {
		if match(p, s) {
			return true
		}
	}
	return false
}

// MatchesPrincipal reports whether the statement's Principal/NotPrincipal
// covers id. "*" and {"AWS":"*"} cover everyone (services included); a Service
// value covers that service (case-insensitive); an account id equals its
// arn:<partition>:iam::<id>:root; an account's root ARN covers every principal
// of that account when delegation is meant (MatchesAWSAccount).
//
// For Identity{AWS: arn} an AWS value that names the account (id or root ARN)
// covers every principal of that account, as a key policy that delegates to
// IAM does; a role ARN also covers that role's assumed-role sessions; other
// ARNs match exactly. A statement with neither Principal nor NotPrincipal
// covers no one: that shape belongs to identity policies, which name their
// principal by attachment, not in the statement.
func (s *Statement) MatchesPrincipal(id Identity) bool {
	switch {
	case s.Principal != nil:
		return s.Principal.Covers(id)
	case s.NotPrincipal != nil:
		return !s.NotPrincipal.Covers(id)
	}
	return false
}

// Covers reports whether this principal element names id (see MatchesPrincipal).
func (p *Principal) Covers(id Identity) bool {
	if p == nil {
		return false
	}
	if p.Everyone() {
		return true
	}
	if id.Service != "" && p.Service != nil {
		for _, v := range p.Service.Items {
			if strings.EqualFold(v, id.Service) {
				return true
			}
		}
	}
	if id.AWS != "" && p.AWS != nil {
		for _, v := range p.AWS.Items {
			if awsPrincipalCovers(v, id.AWS) {
				return true
			}
		}
	}
	return false
}

// Everyone reports whether the element is "*" or has AWS "*".
func (p *Principal) Everyone() bool {
	if p == nil {
		return false
	}
	if p.Wildcard {
		return true
	}
	if p.AWS != nil {
		for _, v := range p.AWS.Items {
			if v == "*" {
				return true
			}
		}
	}
	return false
}

// MatchesAWSAccount reports whether the statement's principal names the whole
// account (its id or arn:<partition>:iam::<id>:root) or everyone: the key
// policy then delegates access to the account's IAM policies.
func (s *Statement) MatchesAWSAccount(account string) bool {
	id := Identity{AWS: account}
	switch {
	case s.Principal != nil:
		return s.Principal.Covers(id)
	case s.NotPrincipal != nil:
		return !s.NotPrincipal.Covers(id)
	}
	return false
}

func awsPrincipalCovers(value, who string) bool {
	if value == "*" || value == who {
		return true
	}
	if acct, part, ok := accountPrincipal(value); ok {
		wAcct, wPart := AccountOf(who)
		return wAcct == acct && (part == "" || wPart == "" || part == wPart)
	}
	// A role principal covers its sessions:
	// arn:P:iam::A:role/path/R covers arn:P:sts::A:assumed-role/R/session.
	vp, vok := arnFields(value)
	wp, wok := arnFields(who)
	if vok && wok && vp[2] == "iam" && wp[2] == "sts" &&
		vp[1] == wp[1] && vp[4] == wp[4] &&
		strings.HasPrefix(vp[5], "role/") && strings.HasPrefix(wp[5], "assumed-role/") {
		role := vp[5][strings.LastIndexByte(vp[5], '/')+1:]
		session := strings.SplitN(strings.TrimPrefix(wp[5], "assumed-role/"), "/", 2)
		return session[0] == role
	}
	return false
}

// accountPrincipal reports whether an AWS principal value names a whole
// account: a 12-digit id or arn:<partition>:iam::<id>:root.
func accountPrincipal(v string) (account, partition string, ok bool) {
	if isAccountID(v) {
		return v, "", true
	}
	p, ok := arnFields(v)
	if ok && p[0] == "arn" && p[2] == "iam" && p[3] == "" && isAccountID(p[4]) && p[5] == "root" {
		return p[4], p[1], true
	}
	return "", "", false
}

// AccountOf returns the account id and partition of an AWS principal (a
// 12-digit id, or any ARN with an account field); "" when there is none.
func AccountOf(principal string) (account, partition string) {
	if isAccountID(principal) {
		return principal, ""
	}
	p, ok := arnFields(principal)
	if ok && p[0] == "arn" && isAccountID(p[4]) {
		return p[4], p[1]
	}
	return "", ""
}

// arnFields is strings.SplitN(s, ":", 6) when that has 6 fields, without
// allocating: principals are compared for every statement of every policy.
func arnFields(s string) (f [6]string, ok bool) {
	for i := range 5 {
		j := strings.IndexByte(s, ':')
		if j < 0 {
			return f, false
		}
		f[i], s = s[:j], s[j+1:]
	}
	f[5] = s
	return f, true
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// OwnService returns the service principal when the statement is that
// principal's own: Principal is {"Service": P} or {"Service": [P]} with no
// other principal of any kind. The planner edits only such statements in place.
func (s *Statement) OwnService() (string, bool) {
	p := s.Principal
	if p == nil || s.NotPrincipal != nil || p.Wildcard || p.Service == nil || len(p.Service.Items) != 1 {
		return "", false
	}
	for _, v := range []*Values{p.AWS, p.Federated, p.CanonicalUser} {
		if v != nil && len(v.Items) > 0 {
			return "", false
		}
	}
	svc := p.Service.Items[0]
	if svc == "" || strings.ContainsAny(svc, "*?") {
		return "", false
	}
	return svc, true
}

// MatchWildcard matches s against pattern with * and ? (case-sensitive);
// MatchWildcardFold does it case-insensitively. "?" matches one character
// (rune), "*" any run of characters including none. The match is iterative
// with single-star backtracking, so it costs O(len(pattern)*len(s)) at worst
// and never recurses.
func MatchWildcard(pattern, s string) bool { return matchWildcard(pattern, s, false) }

// MatchWildcardFold is MatchWildcard ignoring case (Unicode simple folding).
func MatchWildcardFold(pattern, s string) bool { return matchWildcard(pattern, s, true) }

func matchWildcard(pattern, s string, fold bool) bool {
	if pattern == "*" {
		return true
	}
	if !strings.ContainsAny(pattern, "*?") {
		if !fold {
			return pattern == s
		}
		if len(pattern) == len(s) && isASCII(pattern) && isASCII(s) {
			return strings.EqualFold(pattern, s)
		}
		// strings.EqualFold equates any two invalid bytes; the loop does not.
	}
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			pc, pw := utf8.DecodeRuneInString(pattern[p:])
			sc, sw := utf8.DecodeRuneInString(s[i:])
			switch {
			case pc == '*':
				starP, starI = p, i
				p += pw
				continue
			case pc == '?' || (pc == sc && pattern[p:p+pw] == s[i:i+sw]) || (fold && pc != utf8.RuneError && equalFoldRune(pc, sc)):
				p += pw
				i += sw
				continue
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last star absorb one more character of s and retry.
		_, sw := utf8.DecodeRuneInString(s[starI:])
		starI += sw
		i = starI
		p = starP + 1
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	if a < utf8.RuneSelf && b < utf8.RuneSelf {
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		return a == b
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// Identity is the principal making a request: a service principal
// ("cloudwatch.amazonaws.com") or an AWS principal ARN / account id.
type Identity struct {
	Service string
	AWS     string
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
