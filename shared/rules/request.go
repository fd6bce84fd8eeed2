package rules

import (
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/sources"
)

// The request contexts below are what SNS, KMS and IAM put in the request
// when SNS calls KMS (GenerateDataKey, Decrypt) for a topic encrypted with
// the key; docs/request-context.md lists every key with its source. A key
// named here is known, known to be present with an unknown value, or
// documented absent; every other key is unknown, so a verdict that depends
// on it is uncertain, never decided. Sources:
//
//	IAM global keys: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
//	KMS keys:        https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
//	SNS encryption:  https://docs.aws.amazon.com/sns/latest/dg/sns-server-side-encryption.html
//	                 (the encryption context aws:sns:topicArn, as in the key policy
//	                 the GameLift guide gives for SNS: https://docs.aws.amazon.com/gamelift/latest/flexmatchguide/queue-notification-sns-sse.html)

// sourceContextKeys say which of a service's resources published. The topic
// policy, not the key policy, decides which sources may publish, so a grant
// that is undecided only because these values are not known here counts as a
// grant; the confused-deputy checks judge those conditions.
var sourceContextKeys = []string{"aws:SourceAccount", "aws:SourceArn", "aws:SourceOrgID", "aws:SourceOrgPaths"}

// absentForServicePrincipal are keys IAM documents as absent when an AWS
// service principal calls directly (IAM global condition keys page):
// organisation and tag keys exist only for IAM principals of an
// organisation / with tags; aws:username only for IAM users; the role-session
// keys only for role-session or federated credentials; aws:CalledVia* only
// when a service uses an IAM principal's credentials (forward access
// sessions); aws:referer only for browser requests.
var absentForServicePrincipal = []string{
	"aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:username",
	"aws:AssumedRoot", "aws:FederatedProvider", "aws:TokenIssueTime", "aws:SignInSessionArn",
	"aws:MultiFactorAuthAge", "aws:MultiFactorAuthPresent", "aws:ChatbotSourceArn",
	"aws:Ec2InstanceSourceVpc", "aws:Ec2InstanceSourcePrivateIPv4", "aws:SourceIdentity",
	"ec2:RoleDelivery", "ec2:SourceInstanceArn", "glue:RoleAssumedBy", "glue:CredentialIssuingService",
	"codebuild:BuildArn", "codebuild:ProjectArn", "lambda:SourceFunctionArn", "ssm:SourceInstanceArn",
	"identitystore:UserId",
	"aws:CalledVia", "aws:CalledViaFirst", "aws:CalledViaLast", "aws:CalledViaAWSMCP", "aws:ViaAWSMCPService",
}

// absentForDataKeyCalls are keys of other operations, absent from
// GenerateDataKey and Decrypt requests (each key's "API operations" column on
// the KMS condition keys page; IAM page for aws:RequestTag and aws:TagKeys,
// which need tags in the request, and aws:referer).
var absentForDataKeyCalls = []string{
	"kms:BypassPolicyLockoutSafetyCheck", "kms:DataKeyPairSpec", "kms:ExpirationModel",
	"kms:GrantConstraintType", "kms:GrantIsForAWSResource", "kms:GrantOperations", "kms:GranteePrincipal",
	"kms:RetiringPrincipal", "kms:MacAlgorithm", "kms:MessageType", "kms:SigningAlgorithm",
	"kms:ReEncryptOnSameKey", "kms:ReplicaRegion", "kms:PrimaryRegion", "kms:ValidTo",
	"kms:WrappingAlgorithm", "kms:WrappingKeySpec",
	"aws:TagKeys", "aws:referer",
}

// dataKeyTemplate holds what every GenerateDataKey/Decrypt request SNS
// makes carries or lacks whatever the key and topic: built once, read by
// every request context (policy.Layered).
var dataKeyTemplate = func() policy.Context {
	c := policy.NewContext()
	c.Set("aws:SecureTransport", "true")
	c.SetUnknown("aws:CurrentTime")
	c.SetUnknown("aws:EpochTime")
	// SNS's one encryption context pair; every other pair is absent.
	c.Set("kms:EncryptionContextKeys", "aws:sns:topicArn")
	c.SetAbsentPrefix("kms:EncryptionContext:")
	c.SetAbsentPrefix("aws:RequestTag/")
	c.SetAbsent(absentForDataKeyCalls...)
	return c
}()

// servicePrincipalTemplate is what a service principal's own call carries
// or lacks whoever the service is.
var servicePrincipalTemplate = func() policy.Context {
	c := policy.NewContext()
	c.Set("aws:PrincipalIsAWSService", "true")
	// Present for every request (IAM global keys page), with values not
	// documented for a service principal. aws:PrincipalArn is documented
	// only for IAM roles, users, federated users and the root user, so it
	// stays unknown.
	c.SetUnknown("aws:PrincipalServiceNamesList")
	c.SetUnknown("aws:PrincipalAccount")
	c.SetUnknown("aws:PrincipalType")
	c.SetUnknown("aws:userid")
	// kms:CallerAccount names the account of the calling IAM identities
	// (KMS condition keys page). A service principal has none: the key
	// policy of the AWS managed key for SNS grants {"AWS":"*"} under
	// kms:CallerAccount and kms:ViaService, and the SNS guide's key
	// management page says AWS services cannot publish to topics encrypted
	// with it (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
	c.SetAbsent("kms:CallerAccount")
	// True only for forward access sessions, which a service principal's
	// own call is not.
	c.Set("aws:ViaAWSService", "false")
	c.SetAbsent(absentForServicePrincipal...)
	c.SetAbsentPrefix("aws:PrincipalTag/")
	// Absent unless serviceContexts sets them: EventBridge's requests lack them.
	c.SetAbsent(sourceContextKeys...)
	return c
}()

// publisherTemplate is what SNS's call on behalf of an AWS principal
// carries or lacks whoever the principal is.
var publisherTemplate = func() policy.Context {
	c := policy.NewContext()
	c.Set("aws:PrincipalIsAWSService", "false")
	c.SetUnknown("aws:PrincipalType")
	c.SetUnknown("aws:userid")
	c.SetUnknown("aws:ViaAWSService")
	// Present only when a service principal calls (IAM global keys page).
	c.SetAbsent("aws:PrincipalServiceName", "aws:PrincipalServiceNamesList")
	c.SetAbsent(sourceContextKeys...)
	return c
}()

// kmsRequest is the part of the request that does not depend on who
// publishes: the key, the encryption context SNS always sets, and the global
// keys IAM always includes. Built once per evaluation.
func (e *evaluator) kmsRequest() policy.Context {
	if e.kmsCtx != nil {
		return *e.kmsCtx
	}
	c := policy.Layered(dataKeyTemplate)
	if e.keyAccount != "" {
		c.Set("aws:ResourceAccount", e.keyAccount)
	} else {
		c.SetUnknown("aws:ResourceAccount")
	}
	// SNS calls KMS in the key's region, which is the topic's (a key of
	// another region stops the checks before grants are judged).
	region := e.topic.Region
	if ka, ok := parseARN(e.keyARN); ok && ka.Region != "" {
		region = ka.Region
	}
	if region != "" {
		c.Set("aws:RequestedRegion", region)
	} else {
		c.SetUnknown("aws:RequestedRegion")
	}
	if e.topic.Region != "" {
		c.Set("kms:ViaService", "sns."+e.topic.Region+".amazonaws.com")
	} else {
		c.SetUnknown("kms:ViaService")
	}
	c.Set("kms:EncryptionContext:aws:sns:topicArn", strings.TrimSpace(e.in.Topic.ARN))
	if k := e.in.Key; k != nil {
		setOrUnknown(c, strings.TrimSpace(k.Spec), "kms:KeySpec", "kms:CustomerMasterKeySpec")
		setOrUnknown(c, strings.TrimSpace(k.Usage), "kms:KeyUsage", "kms:CustomerMasterKeyUsage")
		setOrUnknown(c, strings.TrimSpace(k.Origin), "kms:KeyOrigin")
		if strings.EqualFold(strings.TrimSpace(k.Spec), "SYMMETRIC_DEFAULT") {
			c.Set("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT")
		}
		// The guard reads the aliases whenever the key policy uses
		// kms:ResourceAliases, so Aliases is the key's complete list; a key
		// without aliases has no value for this multi-valued key.
		var aliases []string
		for _, a := range k.Aliases {
			if a = strings.TrimSpace(a); a != "" {
				aliases = append(aliases, a)
			}
		}
		if len(aliases) > 0 {
			c.Set("kms:ResourceAliases", aliases...)
		} else {
			c.SetAbsent("kms:ResourceAliases")
		}
	}
	e.kmsCtx = &c
	return c
}

func setOrUnknown(c policy.Context, v string, keys ...string) {
	for _, k := range keys {
		if v != "" {
			c.Set(k, v)
		} else {
			c.SetUnknown(k)
		}
	}
}

// baseContext is the request context SNS creates when it calls KMS for the
// service p, without the confused-deputy keys (absent, as in EventBridge's
// requests; serviceContexts sets them for the other services).
func (e *evaluator) baseContext(p string) policy.Context {
	c := policy.Layered(e.kmsRequest(), servicePrincipalTemplate)
	c.Set("aws:PrincipalServiceName", p)
	return c.ForDocument(e.doc)
}

// sourceShape is the shape every aws:SourceArn of p has: the sources
// table's pattern with the partition, any region and any account. Empty for
// a principal outside the table.
func sourceShape(p, partition string) string {
	src, ok := sources.Lookup(p)
	if !ok || src.ARNPattern == "" {
		return ""
	}
	return src.SourceARN(partition, "*", "*")
}

// setUnknownSource sets aws:SourceArn to an unknown value of p's shape.
func (e *evaluator) setUnknownSource(c policy.Context, p string) {
	if shape := sourceShape(p, e.partition()); shape != "" {
		c.SetShape("aws:SourceArn", shape)
	} else {
		c.SetUnknown("aws:SourceArn")
	}
}

// serviceContexts are the requests p's publishers make: one per known
// concrete source ARN (discovered, or named exactly by the topic policy),
// else one whose source ARN is unknown but of p's shape. Without sourceKeys
// (EventBridge) the confused-deputy keys are absent.
func (e *evaluator) serviceContexts(p string, sourceKeys bool) []policy.Context {
	if !sourceKeys {
		return []policy.Context{e.baseContext(p)}
	}
	expected := e.expectedAccounts(p)
	single := ""
	if len(expected) == 1 {
		single = expected[0]
	}
	var arns []string
	arns = append(arns, e.discovered[p]...)
	if sv := e.pubs.services[p]; sv != nil {
		for _, v := range sv.arns {
			if !hasWildcard(v) {
				arns = append(arns, v)
			}
		}
	}
	arns = uniqSorted(arns)
	if len(arns) > maxSourceContexts {
		arns = nil
	}
	mk := func(arn string) policy.Context {
		c := e.baseContext(p)
		acct := single
		if a, ok := parseARN(arn); ok && isAccountID(a.Account) {
			acct = a.Account
		}
		if acct != "" {
			c.Set("aws:SourceAccount", acct)
		} else {
			c.SetUnknown("aws:SourceAccount")
		}
		if arn != "" {
			c.Set("aws:SourceArn", arn)
		} else {
			e.setUnknownSource(c, p)
		}
		c.SetUnknown("aws:SourceOrgID")
		c.SetUnknown("aws:SourceOrgPaths")
		return c
	}
	if len(arns) == 0 {
		return []policy.Context{mk("")}
	}
	out := make([]policy.Context, 0, len(arns))
	for _, a := range arns {
		out = append(out, mk(a))
	}
	return out
}

// unknownSourceContext is p's request with the confused-deputy values
// unknown: a grant that passes here but not with the real values is scoped to
// someone else's sources.
func (e *evaluator) unknownSourceContext(p string) policy.Context {
	c := e.baseContext(p)
	c.SetUnknown("aws:SourceAccount")
	e.setUnknownSource(c, p)
	c.SetUnknown("aws:SourceOrgID")
	c.SetUnknown("aws:SourceOrgPaths")
	return c
}

// publisherContext is the request SNS makes to KMS on behalf of an AWS
// principal publishing to the topic, with that principal's credentials.
// Keys that depend on the caller's session (organisation, tags, network,
// MFA) are not known here, so conditions on them do not decide the judgement.
func (e *evaluator) publisherContext(principal, account string) policy.Context {
	c := policy.Layered(e.kmsRequest(), publisherTemplate)
	if account != "" {
		c.Set("aws:PrincipalAccount", account)
		c.Set("kms:CallerAccount", account)
	} else {
		c.SetUnknown("aws:PrincipalAccount")
		c.SetUnknown("kms:CallerAccount")
	}
	if strings.HasSuffix(principal, ":root") {
		// Any principal of the account: its ARN is not known.
		c.SetUnknown("aws:PrincipalArn")
	} else {
		c.Set("aws:PrincipalArn", principal)
	}
	return c.ForDocument(e.doc)
}
