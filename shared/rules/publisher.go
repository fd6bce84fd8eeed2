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

func (e *evaluator) checkAWSPublisher(principal, account, name string) {
	root := ""
	if account != "" {
		root = rootARN(e.partition(), account)
	}
	direct := e.publisherContext(principal, account)
	var delegated policy.Context
	if root != "" && root != principal {
		delegated = e.publisherContext(root, account)
	}
	var missing []string
	for _, action := range []string{actionGenerateDataKey, actionDecrypt} {
		ok := e.awsAllowed(principal, direct, action)
		if !ok && root != "" && root != principal {
			ok = e.awsAllowed(root, delegated, action)
		}
		if !ok {
			missing = append(missing, action)
		}
	}
	if len(missing) == 0 {
		return
	}
	via := ""
	if account != "" {
		via = " nor delegates to IAM in account " + account
	}
	e.findings = append(e.findings, Finding{
		Code: PublisherNotGranted, Principal: principal, KeyARN: e.keyARN,
		Message: name + " may publish to this topic (topic policy) but fails with KMSAccessDeniedException: key policy of " +
			e.keyName() + " neither allows them " + strings.Join(missing, " and ") + via,
	})
}

// awsAllowed reports whether the key policy lets an AWS principal (or account
// root) use action through SNS, with no explicit deny that certainly applies.
func (e *evaluator) awsAllowed(principal string, c policy.Context, action string) bool {
	id := policy.Identity{AWS: principal}
	allowed := false
	for _, s := range e.doc.Statements {
		if !s.MatchesPrincipal(id) || !s.MatchesAction(action) || !s.MatchesResource(e.keyARN) {
			continue
		}
		t := s.EvalCondition(c)
		if s.IsDeny() && t == policy.True {
			return false
		}
		if s.IsAllow() && t != policy.False {
			allowed = true
		}
	}
	return allowed
}

// publisherContext is the request SNS makes to KMS on behalf of an AWS
// principal publishing to the topic. Keys that depend on the caller's session
// (organisation, tags, network) are unknown here, so conditions on them do not
// decide the judgement.
func (e *evaluator) publisherContext(principal, account string) policy.Context {
	c := policy.NewContext()
	c.Set("aws:PrincipalIsAWSService", "false")
	if account != "" {
		c.Set("aws:PrincipalAccount", account)
		c.Set("kms:CallerAccount", account)
	} else {
		c.SetUnknown("aws:PrincipalAccount")
		c.SetUnknown("kms:CallerAccount")
	}
	if strings.HasSuffix(principal, ":root") {
		c.SetUnknown("aws:PrincipalArn")
	} else {
		c.Set("aws:PrincipalArn", principal)
	}
	if e.keyAccount != "" {
		c.Set("aws:ResourceAccount", e.keyAccount)
	}
	if e.topic.Region != "" {
		c.Set("kms:ViaService", "sns."+e.topic.Region+".amazonaws.com")
	}
	c.Set("kms:EncryptionContext:aws:sns:topicArn", strings.TrimSpace(e.in.Topic.ARN))
	for _, k := range []string{"aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:PrincipalType", "aws:userid", "aws:username",
		"aws:SourceIp", "aws:SourceVpc", "aws:SourceVpce", "aws:VpcSourceIp", "aws:MultiFactorAuthPresent", "aws:SecureTransport",
		"aws:CalledVia", "aws:CalledViaFirst", "aws:CalledViaLast", "aws:ViaAWSService", "aws:RequestedRegion"} {
		c.SetUnknown(k)
	}
	return c
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
