package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/sources"
)

// judgeService checks one required service principal against the key policy.
func (e *evaluator) judgeService(p string) {
	src, known := sources.Lookup(p)
	if known && src.NeedsRole {
		e.service(SourceNeedsRole, p, false, false, who(p)+" are delivered through an IAM role that the key policy must allow kms:GenerateDataKey* and kms:Decrypt; granting "+p+" does not help, otherwise publishing fails with KMSAccessDeniedException")
		return
	}
	// Only EventBridge's requests lack aws:SourceAccount/aws:SourceArn.
	sourceKeys := !known || src.ConfusedDeputy
	id := policy.Identity{Service: p}
	real := e.serviceContexts(p, sourceKeys)

	certain, uncertain, denySids := e.denies(id, real)
	if certain {
		e.service(GrantDenied, p, false, false, fmt.Sprintf("%s fail with KMSAccessDeniedException: key policy of %s explicitly denies %s (statement %s)", who(p), e.keyName(), p, strings.Join(denySids, ", ")))
		return
	}
	if uncertain {
		e.service(GrantDenied, p, false, true, fmt.Sprintf("%s may fail with KMSAccessDeniedException: key policy of %s has a deny on %s (statement %s) whose condition depends on values not known here", who(p), e.keyName(), p, strings.Join(denySids, ", ")))
	}

	gdk, gdkSure, gdkWhy := e.grantOf(id, actionGenerateDataKey, real)
	dec, decSure, decWhy := e.grantOf(id, actionDecrypt, real)
	if !gdk || !dec {
		missing := missingActions(gdk, dec)
		if !sourceKeys {
			if e.allowedBoth(id, e.serviceContexts(p, true)) {
				fix := e.fixable(p)
				e.service(ConfusedDeputyUnsupported, p, fix, false, fmt.Sprintf("%s fail with KMSAccessDeniedException: key policy of %s grants %s %s only with aws:SourceAccount/aws:SourceArn conditions, which EventBridge requests never carry", who(p), e.keyName(), p, missing))
				return
			}
		} else if e.allowedBoth(id, []policy.Context{e.unknownSourceContext(p)}) {
			e.service(ConfusedDeputyMismatch, p, false, false, fmt.Sprintf("%s fail with KMSAccessDeniedException: key policy of %s grants %s %s only for aws:SourceAccount/aws:SourceArn values that are not this topic's publishers (account %s)", who(p), e.keyName(), p, missing, strings.Join(e.expectedAccounts(p), ", ")))
			return
		}
		fix := e.fixable(p)
		e.service(GrantMissing, p, fix, false, fmt.Sprintf("%s fail with KMSAccessDeniedException: key policy of %s does not allow %s %s", who(p), e.keyName(), p, missing))
		return
	}
	if !gdkSure || !decSure {
		// The grant depends on request values nobody knows here (a key the
		// request may or may not carry, or one whose value is not known):
		// uncertain, so never fixed by adding a second grant.
		e.service(GrantMissing, p, false, true, fmt.Sprintf("%s may fail with KMSAccessDeniedException: key policy of %s allows %s %s only through statements whose conditions depend on request values not known here (statement %s)", who(p), e.keyName(), p, missingActions(gdkSure, decSure), strings.Join(uniqSorted(append(gdkWhy, decWhy...)), ", ")))
	}
	if !sourceKeys {
		return
	}
	if open := e.openSourceContexts(p); len(open) > 0 && !e.allowedBoth(id, open) {
		e.service(GrantMissing, p, e.fixable(p), false, fmt.Sprintf("%s from sources the topic policy accepts without naming them (a statement without aws:SourceArn) fail with KMSAccessDeniedException: key policy of %s allows %s kms:GenerateDataKey and kms:Decrypt only for some sources of account %s", who(p), e.keyName(), p, strings.Join(e.expectedAccounts(p), ", ")))
		return
	}
	e.checkPaths(p, id, real)
}

// checkPaths requires every statement through which p gets either action to
// carry restricting aws:SourceAccount and aws:SourceArn conditions naming this
// topic's accounts. One unprotected path is enough for a confused deputy.
func (e *evaluator) checkPaths(p string, id policy.Identity, real []policy.Context) {
	expected := e.expectedAccounts(p)
	// Pattern operators (StringLike, ArnLike, ArnEquals) match * and ?;
	// StringEquals compares literally.
	matches := func(op policy.Operator, pattern, account string) bool {
		if op.Base == "StringLike" || strings.HasPrefix(op.Base, "Arn") {
			return policy.MatchWildcard(pattern, account)
		}
		return pattern == account
	}
	foreignAccount := func(op policy.Operator, v string) bool {
		if strings.Contains(v, "${") {
			return false // a policy variable: resolved per request, not a fixed account
		}
		for _, a := range expected {
			if matches(op, v, a) {
				return false
			}
		}
		return true
	}
	foreignARN := func(op policy.Operator, v string) bool {
		a, ok := parseARN(v)
		if !ok || a.Account == "" || strings.Contains(a.Account, "${") {
			return false
		}
		for _, x := range expected {
			if matches(op, a.Account, x) {
				return false
			}
		}
		return true
	}
	var missing, mismatch []string
	ownOnly := true
	for i, s := range e.doc.Statements {
		if !e.grantsService(s, id) || !notFalseInAny(s, real) {
			continue
		}
		acctOK, acctForeign := restriction(s, KeySourceAccount, foreignAccount)
		arnOK, arnForeign := restriction(s, KeySourceARN, foreignARN)
		if !acctOK || !arnOK {
			var lacks []string
			if !acctOK {
				lacks = append(lacks, "aws:SourceAccount")
			}
			if !arnOK {
				lacks = append(lacks, "aws:SourceArn")
			}
			missing = append(missing, stmtName(s, i)+" lacks "+strings.Join(lacks, " and "))
			if own, ok := s.OwnService(); (!ok || strings.ToLower(own) != p) && !e.ownOnceEventsMoved(s, p) {
				ownOnly = false
			} else if g := e.grantFor(p); RewriteRefused(s, g.SourceAccounts, g.SourceARNs) {
				ownOnly = false // the planner will not rewrite it (RewriteRefused)
			}
		}
		if acctForeign || arnForeign {
			mismatch = append(mismatch, stmtName(s, i))
		}
	}
	if len(missing) > 0 {
		fix := ownOnly && e.fixable(p)
		e.service(ConfusedDeputyMissing, p, fix, false, fmt.Sprintf("key policy of %s grants %s kms:GenerateDataKey*/kms:Decrypt without restricting aws:SourceAccount and aws:SourceArn (%s): resources of any account could make %s use this key (confused deputy)", e.keyName(), p, strings.Join(missing, "; "), p))
	}
	if len(mismatch) > 0 {
		e.service(ConfusedDeputyMismatch, p, false, false, fmt.Sprintf("key policy of %s scopes %s to another account's sources (%s), not to account %s of this topic", e.keyName(), p, strings.Join(mismatch, ", "), strings.Join(expected, ", ")))
	}
}

// restriction reports whether the statement restricts key for a service
// principal (ProtectsSource, the test the planner uses too), and whether
// every such restriction admits a foreign value (conditions are ANDed, so one
// entry pinned to our account is enough).
func restriction(s *policy.Statement, key string, foreign func(policy.Operator, string) bool) (restricts, isForeign bool) {
	entries, foreignEntries := 0, 0
	for _, b := range s.Condition {
		for _, k := range b.Keys {
			if !strings.EqualFold(strings.TrimSpace(k.Key), key) {
				continue
			}
			op := policy.ParseOperator(b.Operator)
			if !protects(op, key, k.Values.Items) {
				continue
			}
			entries++
			for _, v := range k.Values.Items {
				if foreign(op, strings.TrimSpace(v)) {
					foreignEntries++
					break
				}
			}
		}
	}
	return entries > 0, entries > 0 && foreignEntries == entries
}

func stmtName(s *policy.Statement, i int) string {
	if s.Sid != "" {
		return fmt.Sprintf("%q", s.Sid)
	}
	return fmt.Sprintf("#%d", i+1)
}

func missingActions(gdk, dec bool) string {
	switch {
	case !gdk && !dec:
		return "kms:GenerateDataKey and kms:Decrypt"
	case !gdk:
		return "kms:GenerateDataKey"
	default:
		return "kms:Decrypt"
	}
}

// grantsService reports whether an Allow statement covers id for either SNS action on this key.
func (e *evaluator) grantsService(s *policy.Statement, id policy.Identity) bool {
	return s.IsAllow() && s.MatchesPrincipal(id) && s.MatchesResource(e.keyARN) &&
		(s.MatchesAction(actionGenerateDataKey) || s.MatchesAction(actionDecrypt))
}

func notFalseInAny(s *policy.Statement, ctxs []policy.Context) bool {
	for _, c := range ctxs {
		if s.EvalCondition(c) != policy.False {
			return true
		}
	}
	return false
}

// allowed reports whether, in every request context, some Allow statement
// may give id the action (a condition that cannot be decided counts as
// allowing; allowedCertainly tells the two apart).
func (e *evaluator) allowed(id policy.Identity, action string, ctxs []policy.Context) bool {
	possible, _, _ := e.grantOf(id, action, ctxs)
	return possible
}

func (e *evaluator) allowedBoth(id policy.Identity, ctxs []policy.Context) bool {
	return e.allowed(id, actionGenerateDataKey, ctxs) && e.allowed(id, actionDecrypt, ctxs)
}

// grantOf judges the Allow statements for id and action in every context:
// possible when each context has a statement whose condition is not False,
// certain when each has one whose condition holds, or is undecided only for
// want of the source values (sourceContextKeys; the topic policy decides the
// sources, and the confused-deputy checks judge those conditions). undecided
// names the statements that may grant but depend on other unknown keys.
func (e *evaluator) grantOf(id policy.Identity, action string, ctxs []policy.Context) (possible, certain bool, undecided []string) {
	possible, certain = true, true
	for _, c := range ctxs {
		ok, sure := false, false
		for i, s := range e.doc.Statements {
			if !s.IsAllow() || !s.MatchesPrincipal(id) || !s.MatchesAction(action) || !s.MatchesResource(e.keyARN) {
				continue
			}
			switch s.EvalCondition(c) {
			case policy.True:
				ok, sure = true, true
			case policy.Unknown:
				ok = true
				if s.Condition.EvalWithout(c, e.sourceSkip(s, c)...) == policy.True {
					sure = true
				} else if !contains(undecided, stmtName(s, i)) {
					undecided = append(undecided, stmtName(s, i))
				}
			}
			if sure {
				break
			}
		}
		possible = possible && ok
		certain = certain && sure
	}
	return possible, certain, undecided
}

// sourceSkip are the source keys (sourceContextKeys) whose conditions in s
// grantOf leaves to the topic policy: all of them, except a key whose
// condition value names a policy variable of another key that c does not
// know. That comparison stays undecided whatever the source is (for
// example "StringEquals": {"aws:SourceAccount": "${aws:PrincipalAccount}"},
// where a service principal's account is not known): it is not a question of
// which sources publish, so the grant it gives is uncertain.
func (e *evaluator) sourceSkip(s *policy.Statement, c policy.Context) []string {
	if e.doc == nil || strings.TrimSpace(e.doc.Version) != "2012-10-17" {
		return sourceContextKeys // ${...} is literal text there
	}
	var keep []string
	for _, b := range s.Condition {
		for _, k := range b.Keys {
			if !keyIn(k.Key, sourceContextKeys) || keyIn(k.Key, keep) {
				continue
			}
			for _, v := range k.Values.Items {
				if unknownVariable(v, c) {
					keep = append(keep, strings.TrimSpace(k.Key))
					break
				}
			}
		}
	}
	if len(keep) == 0 {
		return sourceContextKeys
	}
	out := make([]string, 0, len(sourceContextKeys))
	for _, k := range sourceContextKeys {
		if !keyIn(k, keep) {
			out = append(out, k)
		}
	}
	return out
}

// unknownVariable reports whether v names a policy variable (${key} or
// ${key, 'default'}) of a key that is not a source key and whose value c does
// not know.
func unknownVariable(v string, c policy.Context) bool {
	for {
		i := strings.Index(v, "${")
		if i < 0 {
			return false
		}
		j := strings.IndexByte(v[i:], '}')
		if j < 0 {
			return false
		}
		name := v[i+2 : i+j]
		hasDefault := false
		if k := strings.IndexByte(name, ','); k >= 0 {
			name, hasDefault = name[:k], true
		}
		name = strings.TrimSpace(name)
		v = v[i+j+1:]
		switch name {
		case "*", "?", "$":
			continue
		}
		if keyIn(name, sourceContextKeys) {
			continue
		}
		switch st, vals, _ := c.Get(name); {
		case st == policy.KeyKnown && len(vals) == 1, st == policy.KeyAbsent && hasDefault:
		case st == policy.KeyAbsent:
			// An absent key fails the comparison: decided, not unknown.
		default:
			return true
		}
	}
}

// denies evaluates the explicit Deny statements that cover id for either action.
func (e *evaluator) denies(id policy.Identity, ctxs []policy.Context) (certain, uncertain bool, sids []string) {
	for i, s := range e.doc.Statements {
		if !s.IsDeny() || !s.MatchesPrincipal(id) || !s.MatchesResource(e.keyARN) ||
			!(s.MatchesAction(actionGenerateDataKey) || s.MatchesAction(actionDecrypt)) {
			continue
		}
		hit := false
		for _, c := range ctxs {
			switch s.EvalCondition(c) {
			case policy.True:
				certain, hit = true, true
			case policy.Unknown:
				uncertain, hit = true, true
			}
		}
		if hit {
			sids = append(sids, stmtName(s, i))
		}
	}
	return certain, uncertain, sids
}

// fixable says whether a grant for p may be written: only principals of the
// SNS documentation's service-principal table, only on a key of the topic's own account, and only when the
// confused-deputy values are known (a grant without them would be flagged
// again, and a grant with "*" would be unsafe).
func (e *evaluator) fixable(p string) bool {
	if !sources.InTable(p) || e.foreignKey {
		return false
	}
	g := e.grantFor(p)
	src, _ := sources.Lookup(p)
	if src.ConfusedDeputy && (len(g.SourceAccounts) == 0 || len(g.SourceARNs) == 0) {
		return false
	}
	return true
}

// grantFor is the grant a fix writes for p: every source the topic policy
// lets p publish for, statement by statement. A statement naming
// aws:SourceArn contributes its values; one without (or with a value that
// matches every account, which ProtectsSource does not count) accepts every
// source of its accounts, and contributes the sources table's pattern for
// each of them, so the fix never covers less than the topic accepts. Without
// a topic-policy statement for p (a required or discovered principal), the
// pattern per expected account. Accounts are expectedAccounts: the key grant
// pins the accounts even where the topic policy leaves them open.
func (e *evaluator) grantFor(p string) Grant {
	g := Grant{Principal: p}
	if t := strings.TrimSpace(e.in.Topic.ARN); t != "" {
		g.TopicARNs = []string{t}
	}
	src, _ := sources.Lookup(p)
	if !src.ConfusedDeputy {
		return g
	}
	g.SourceAccounts = e.expectedAccounts(p)
	var arns, open []string
	sv := e.pubs.services[p]
	if sv == nil || len(sv.scopes) == 0 {
		open = g.SourceAccounts
	} else {
		for _, sc := range sv.scopes {
			if len(sc.arns) > 0 {
				arns = append(arns, sc.arns...)
				continue
			}
			open = append(open, e.scopeAccounts(p, sc)...)
		}
	}
	for _, a := range uniqSorted(open) {
		if arn := src.SourceARN(e.partition(), e.topic.Region, a); arn != "" && e.topic.Region != "" {
			arns = append(arns, arn)
		}
	}
	g.SourceARNs = uniqSorted(arns)
	return g
}

// scopeAccounts are the accounts whose sources an open topic-policy
// statement accepts for p: those it pins, else every expected account.
func (e *evaluator) scopeAccounts(p string, sc sourceScope) []string {
	var acc []string
	for _, a := range sc.accounts {
		if isAccountID(a) {
			acc = append(acc, a)
		}
	}
	if len(acc) == 0 {
		return e.expectedAccounts(p)
	}
	return acc
}

// openSourceContexts are the requests of sources that a topic-policy
// statement without aws:SourceArn accepts beside the ARNs other statements
// name: one per account, whose aws:SourceArn is the sources table's pattern
// itself. Matched as a value, a pattern is matched only by a pattern at least
// as broad (arn:aws:s3:::orders-ingest does not match arn:aws:s3:::*), so a
// key grant narrowed to some of those sources is judged missing for the rest.
// Nil when every statement names its sources. (A context whose
// aws:SourceArn is unknown does not do this: a grant narrowed to one bucket
// is Unknown there, which counts as allowing.)
func (e *evaluator) openSourceContexts(p string) []policy.Context {
	sv := e.pubs.services[p]
	src, known := sources.Lookup(p)
	if sv == nil || !known || !src.ConfusedDeputy || e.topic.Region == "" {
		return nil
	}
	var open []string
	for _, sc := range sv.scopes {
		if len(sc.arns) == 0 {
			open = append(open, e.scopeAccounts(p, sc)...)
		}
	}
	var out []policy.Context
	for _, a := range uniqSorted(open) {
		c := e.baseContext(p)
		c.Set(KeySourceAccount, a)
		c.Set(KeySourceARN, src.SourceARN(e.partition(), e.topic.Region, a))
		c.SetUnknown("aws:SourceOrgID")
		c.SetUnknown("aws:SourceOrgPaths")
		out = append(out, c)
	}
	return out
}

// expectedAccounts are the accounts p's requests may legitimately come from:
// those the topic policy pins p to (aws:SourceAccount values and the accounts
// in its aws:SourceArn values) and those of discovered sources; by default the
// topic owner's.
func (e *evaluator) expectedAccounts(p string) []string {
	var acc []string
	if sv := e.pubs.services[p]; sv != nil {
		for _, a := range sv.accounts {
			if isAccountID(a) {
				acc = append(acc, a)
			}
		}
		for _, v := range sv.arns {
			if a, ok := parseARN(v); ok && isAccountID(a.Account) {
				acc = append(acc, a.Account)
			}
		}
	}
	for _, v := range e.discovered[p] {
		if a, ok := parseARN(v); ok && isAccountID(a.Account) {
			acc = append(acc, a.Account)
		}
	}
	if len(acc) == 0 && e.topic.Account != "" {
		acc = append(acc, e.topic.Account)
	}
	return uniqSorted(acc)
}

// service records a principal finding; fixable ones also record their grant.
func (e *evaluator) service(code Code, p string, fixable, uncertain bool, msg string) {
	e.findings = append(e.findings, Finding{Code: code, Principal: p, KeyARN: e.keyARN, Message: msg, Fixable: fixable, Uncertain: uncertain})
	if fixable {
		e.grants[p] = e.grantFor(p)
	}
}

// ownOnceEventsMoved reports whether a statement shared by p and EventBridge
// alone becomes p's own in the same fix: EventBridge is required, and the
// statement grants it nothing (it needs source keys EventBridge's requests
// never carry), so the planner moves EventBridge out of it and p's fix then
// protects it. Judging it p's own keeps one fix enough (docs/DESIGN.md, fix
// invariant 6).
func (e *evaluator) ownOnceEventsMoved(s *policy.Statement, p string) bool {
	const events = "events.amazonaws.com"
	pr := s.Principal
	if pr == nil || s.NotPrincipal != nil || pr.Wildcard || pr.Service == nil || !slices.Contains(e.principals, events) {
		return false
	}
	for _, v := range []*policy.Values{pr.AWS, pr.Federated, pr.CanonicalUser} {
		if v != nil && len(v.Items) > 0 {
			return false
		}
	}
	sawEvents := false
	for _, v := range pr.Service.Items {
		switch strings.ToLower(v) { // as written, as MatchesPrincipal reads it
		case events:
			sawEvents = true
		case p:
		default:
			return false
		}
	}
	// The planner keeps a statement that serves EventBridge's own use of
	// the key as it is, so it stays shared.
	return sawEvents && !EventBridgeOwnUse(s) && !notFalseInAny(s, e.serviceContexts(events, false))
}

// EventBridgeOwnUse reports whether a statement's conditions name
// EventBridge's own resources: an aws:SourceArn in the events namespace other
// than a rule's, or an EventBridge encryption context key
// (kms:EncryptionContext:aws:events:...).
// EventBridge uses a customer managed key for its own event buses through
// such grants; removing them would break a grant someone relies on.
func EventBridgeOwnUse(s *policy.Statement) bool {
	for _, b := range s.Condition {
		for _, k := range b.Keys {
			key := strings.ToLower(strings.TrimSpace(k.Key))
			if strings.HasPrefix(key, "kms:encryptioncontext:aws:events") {
				return true
			}
			if key != "aws:sourcearn" {
				continue
			}
			for _, v := range k.Values.Items {
				// Rule ARNs are the SNS documentation's mistaken EventBridge
				// grant for publishing, not a grant for EventBridge's own resources.
				f := strings.SplitN(strings.TrimSpace(v), ":", 6)
				if len(f) >= 3 && strings.EqualFold(f[2], "events") && !(len(f) == 6 && strings.HasPrefix(f[5], "rule/")) {
					return true
				}
			}
		}
	}
	return false
}
