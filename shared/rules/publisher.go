package rules

import (
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/policy"
)

// checkAWSPublishers requires every AWS principal that the topic policy lets
// publish to be able to use the key: SNS calls KMS with the publisher's own
// permissions, so the key policy must allow it directly or delegate to IAM in
// its account. "*" publishers count only when a condition pins them to an
// account; an unrestricted "*" cannot be judged.
func (e *evaluator) checkAWSPublishers() {
	for _, a := range e.pubs.aws {
		e.checkAWSPublisher(a, accountOf(a), a)
	}
	for _, acct := range e.pubs.anyoneAccounts {
		root := rootARN(e.partition(), acct)
		if contains(e.pubs.aws, root) {
			continue // already judged as a named principal
		}
		e.checkAWSPublisher(root, acct, `principals of account `+acct+` (the topic policy lets "*" publish from that account)`)
	}
}

// checkAWSPublisher judges one AWS principal in its own request context. A
// key policy statement that names the principal's account (delegation to
// IAM) covers the principal itself (policy.Statement.MatchesPrincipal), so
// one evaluation sees both the grants and every deny: an explicit deny always
// wins, whichever statement would allow ("Policy evaluation logic", IAM User
// Guide: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
func (e *evaluator) checkAWSPublisher(principal, account, name string) {
	c := e.publisherContext(principal, account)
	var missing, denySids []string
	deny := policy.False
	for _, action := range []string{actionGenerateDataKey, actionDecrypt} {
		allowed, d, sids := e.awsAllowed(principal, c, action)
		switch {
		case d == policy.True:
			deny = policy.True
		case d == policy.Unknown && deny == policy.False:
			deny = policy.Unknown
		}
		for _, sid := range sids {
			if !contains(denySids, sid) {
				denySids = append(denySids, sid)
			}
		}
		if !allowed {
			missing = append(missing, action)
		}
	}
	f := Finding{Code: PublisherNotGranted, Principal: principal, KeyARN: e.keyARN}
	switch {
	case deny == policy.True:
		f.Message = name + " may publish to this topic (topic policy) but fails with KMSAccessDeniedException: key policy of " +
			e.keyName() + " explicitly denies them (statement " + strings.Join(denySids, ", ") + ")"
	case len(missing) > 0:
		via := ""
		if account != "" {
			via = " nor delegates to IAM in account " + account
		}
		f.Message = name + " may publish to this topic (topic policy) but fails with KMSAccessDeniedException: key policy of " +
			e.keyName() + " neither allows them " + strings.Join(missing, " and ") + via
	case deny == policy.Unknown:
		f.Uncertain = true
		f.Message = name + " may publish to this topic (topic policy) but may fail with KMSAccessDeniedException: key policy of " +
			e.keyName() + " has a deny on them (statement " + strings.Join(denySids, ", ") + ") whose condition depends on values not known here"
	default:
		return
	}
	e.findings = append(e.findings, f)
}

// awsAllowed reports whether some Allow statement may let an AWS principal
// (or, for an account root, any principal of the account) use action
// through SNS, and what the Deny statements that cover it say: True for a
// deny that certainly applies, Unknown for one whose condition cannot be
// decided here, with their names.
func (e *evaluator) awsAllowed(principal string, c policy.Context, action string) (allowed bool, deny policy.Tri, denySids []string) {
	id := policy.Identity{AWS: principal}
	deny = policy.False
	for i, s := range e.doc.Statements {
		if !s.MatchesPrincipal(id) || !s.MatchesAction(action) || !s.MatchesResource(e.keyARN) {
			continue
		}
		t := s.EvalCondition(c)
		switch {
		case s.IsDeny() && t != policy.False:
			if t == policy.True || deny == policy.False {
				deny = t
			}
			denySids = append(denySids, stmtName(s, i))
		case s.IsAllow() && t != policy.False:
			allowed = true
		}
	}
	return allowed, deny, denySids
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
