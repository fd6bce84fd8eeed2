package rules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/sources"
)

// The KMS actions SNS really calls for a publisher. A key policy is judged by
// these, so kms:GenerateDataKey without the * suffix is enough.
const (
	actionGenerateDataKey = "kms:GenerateDataKey"
	actionDecrypt         = "kms:Decrypt"
)

// maxSourceContexts bounds how many concrete source ARNs (discovered alarms,
// rules) are evaluated one by one; beyond it the source is treated as unknown,
// which can only make the judgement more lenient, never produce a wrong fix.
const maxSourceContexts = 16

// evaluator carries what one Evaluate call has learnt so far.
type evaluator struct {
	in         Input
	topic      arnParts // zero when the topic ARN does not parse
	keyARN     string
	keyAccount string
	foreignKey bool // the key belongs to another account: never edit its policy
	doc        *policy.Document
	pubs       publishers
	principals []string // required service principals, normalised and sorted
	discovered map[string][]string
	findings   []Finding
	grants     map[string]Grant
	repoint    bool
	kmsCtx     *policy.Context // kmsRequest, built once
}

// Evaluate judges one topic: its key's kind, state and place, then for every
// service principal that publishes to it whether the key policy lets SNS use
// the key on its behalf, safely; then aliases and AWS-principal publishers.
// Checks that cannot mean anything after an earlier failure (grants of an AWS
// managed key, of a policy that does not parse) are skipped.
func Evaluate(in Input) Result {
	e := newEvaluator(in)
	e.run()
	return e.result()
}

func newEvaluator(in Input) *evaluator {
	e := &evaluator{in: in, grants: map[string]Grant{}, discovered: map[string][]string{}}
	e.topic, _ = parseARN(in.Topic.ARN)
	e.pubs = topicPublishers(in.Topic.Policy, strings.TrimSpace(in.Topic.ARN), e.partition())
	set := map[string]bool{}
	for _, p := range in.Config.RequiredPrincipals {
		set[normPrincipal(p)] = true
	}
	for p := range e.pubs.services {
		set[p] = true
	}
	for _, d := range in.Discovered {
		p := normPrincipal(d.Principal)
		set[p] = true
		if a := strings.TrimSpace(d.SourceARN); a != "" {
			e.discovered[p] = append(e.discovered[p], a)
		}
	}
	delete(set, "")
	for p := range set {
		e.principals = append(e.principals, p)
	}
	sort.Strings(e.principals)
	if k := in.Key; k != nil {
		e.keyARN = strings.TrimSpace(k.ARN)
	}
	if e.keyARN == "" {
		e.keyARN = e.namedKeyARN(strings.TrimSpace(in.Topic.KMSMasterKeyID))
	}
	if a, ok := parseARN(e.keyARN); ok {
		e.keyAccount = a.Account
	}
	return e
}

// namedKeyARN turns the topic's KmsMasterKeyId into an ARN when the key
// itself could not be described: KMS resolves ids and aliases in the topic's
// own account and region.
func (e *evaluator) namedKeyARN(named string) string {
	if named == "" {
		return ""
	}
	if _, ok := parseARN(named); ok {
		return named
	}
	if e.topic.Account == "" {
		return ""
	}
	if !strings.HasPrefix(strings.ToLower(named), "alias/") {
		named = "key/" + named
	}
	return "arn:" + e.partition() + ":kms:" + e.topic.Region + ":" + e.topic.Account + ":" + named
}

func (e *evaluator) partition() string {
	if e.topic.Partition == "" {
		return "aws"
	}
	return e.topic.Partition
}

func (e *evaluator) run() {
	named := strings.TrimSpace(e.in.Topic.KMSMasterKeyID)
	if named == "" {
		e.repointable(TopicUnencrypted, "topic "+e.in.Topic.ARN+" is not encrypted: messages are stored without server-side encryption")
		return
	}
	if awsManagedAlias(named) {
		e.repointable(KeyAWSManaged, "topic is encrypted with the AWS managed key "+named+", whose key policy cannot be edited: AWS services publishing to this topic (CloudWatch alarms, EventBridge rules, S3 notifications...) fail with KMSAccessDeniedException")
		return
	}
	k := e.in.Key
	if k == nil {
		e.key(KeyNotFound, "publishing to this topic fails with KMSNotFoundException: key "+named+" was not found")
		return
	}
	if k.ReadError != KeyReadOK {
		// A key named by an ARN of another region cannot be read from the
		// topic's region, and SNS could not use it anyway: the place is the
		// finding. In another account the place is reported with the read error.
		if _, isARN := parseARN(named); isARN && !e.keyPlace() {
			return
		}
	}
	if !e.keyReadable(k, named) {
		return
	}
	if strings.EqualFold(strings.TrimSpace(k.Manager), "AWS") {
		e.repointable(KeyAWSManaged, "topic is encrypted with the AWS managed key "+e.keyName()+", whose key policy cannot be edited: AWS services publishing to this topic (CloudWatch alarms, EventBridge rules, S3 notifications...) fail with KMSAccessDeniedException")
		return
	}
	if !strings.EqualFold(strings.TrimSpace(k.Spec), "SYMMETRIC_DEFAULT") || !strings.EqualFold(strings.TrimSpace(k.Usage), "ENCRYPT_DECRYPT") {
		e.repointable(KeyNotSymmetric, fmt.Sprintf("key %s is %s/%s, but SNS supports only symmetric encryption keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT): every publish to this topic fails", e.keyName(), k.Spec, k.Usage))
		return
	}
	if !e.keyState(k) {
		return
	}
	if !e.keyPlace() {
		return
	}
	doc, err := k.Parsed, error(nil)
	if !doc.ParsedFrom(k.Policy) {
		doc, err = policy.Parse(k.Policy)
	}
	if err != nil {
		e.key(PolicyUnparseable, fmt.Sprintf("key policy of %s cannot be parsed (%v): its grants cannot be judged or fixed", e.keyName(), err))
		e.checkAliases(nil)
		return
	}
	e.doc = doc
	for _, p := range e.principals {
		e.judgeService(p)
	}
	e.checkAliases(doc)
	e.checkAWSPublishers()
}

// keyReadable turns a terminal read error into its finding.
func (e *evaluator) keyReadable(k *Key, named string) bool {
	detail := ""
	if d := strings.TrimSpace(k.ReadDetail); d != "" {
		detail = " (" + d + ")"
	}
	switch k.ReadError {
	case KeyReadOK:
		return true
	case KeyReadNotFound:
		e.key(KeyNotFound, "publishing to this topic fails with KMSNotFoundException: key "+named+" was not found"+detail)
	case KeyReadOptIn:
		e.key(KeyAccessDenied, "KMSOptInRequired: the account needs a subscription to AWS KMS before key "+named+" can be used; publishing to this topic fails"+detail)
	default:
		e.key(KeyAccessDenied, "the guard is denied access to key "+named+" (DescribeKey or GetKeyPolicy: AccessDeniedException), so its policy cannot be judged; publishers denied the same way fail with KMSAccessDeniedException"+detail)
	}
	return false
}

// keyState reports the key state; it returns false when the key is on its way
// out, where fixing its policy makes no sense.
func (e *evaluator) keyState(k *Key) bool {
	state := strings.TrimSpace(k.State)
	switch {
	case strings.EqualFold(state, "Enabled"):
	case strings.EqualFold(state, "Disabled"):
		e.key(KeyDisabled, "publishing to this topic fails with KMSDisabledException: key "+e.keyName()+" is disabled")
	case strings.EqualFold(state, "PendingDeletion"), strings.EqualFold(state, "PendingReplicaDeletion"):
		e.key(KeyPendingDeletion, "publishing to this topic fails with KMSInvalidStateException: key "+e.keyName()+" is "+state+"; once deleted, messages encrypted with it are lost")
		return false
	default:
		if state == "" {
			state = "unknown"
		}
		e.key(KeyUnavailable, "publishing to this topic fails with KMSInvalidStateException: key "+e.keyName()+" is in state "+state)
	}
	return true
}

// keyPlace compares the key's partition, region and account with the
// topic's; it returns false when SNS cannot use the key at all.
func (e *evaluator) keyPlace() bool {
	ka, ok := parseARN(e.keyARN)
	if !ok || e.topic.Account == "" {
		return true
	}
	if !strings.EqualFold(ka.Partition, e.topic.Partition) || !strings.EqualFold(ka.Region, e.topic.Region) {
		e.key(KeyOtherRegion, fmt.Sprintf("key %s is in %s/%s but the topic is in %s/%s: SNS can use only a key in the topic's own region, so publishing fails", e.keyARN, ka.Partition, ka.Region, e.topic.Partition, e.topic.Region))
		return false
	}
	if ka.Account != e.topic.Account {
		e.foreignKey = true
		e.key(KeyOtherAccount, fmt.Sprintf("key %s belongs to account %s, not to the topic owner %s: its policy is governed by another account and is never changed by the guard", e.keyARN, ka.Account, e.topic.Account))
	}
	return true
}

// keyName names the key in messages: its ARN when known, else as the topic names it.
func (e *evaluator) keyName() string {
	if e.keyARN != "" {
		return e.keyARN
	}
	return strings.TrimSpace(e.in.Topic.KMSMasterKeyID)
}

// repointable records a finding whose fix is to re-point the topic at the
// configured remediation key (unless that is the key already in use).
func (e *evaluator) repointable(code Code, msg string) {
	fix := e.canRepoint()
	if fix {
		msg += "; fix: re-point the topic to " + strings.TrimSpace(e.in.Config.RemediationKeyID)
	}
	f := Finding{Code: code, Message: msg, Fixable: fix}
	if code != TopicUnencrypted {
		f.KeyARN = e.keyARN
	}
	e.findings = append(e.findings, f)
	e.repoint = e.repoint || fix
}

func (e *evaluator) canRepoint() bool {
	target := strings.ToLower(strings.TrimSpace(e.in.Config.RemediationKeyID))
	if target == "" {
		return false
	}
	names := []string{e.in.Topic.KMSMasterKeyID}
	if k := e.in.Key; k != nil {
		names = append(names, k.ARN, k.ID, k.NamedAs)
		names = append(names, k.Aliases...)
	}
	for _, n := range names {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" && (n == target || strings.HasSuffix(target, ":"+n) || strings.HasSuffix(target, "/"+n)) {
			return false // the topic already uses it: re-pointing would loop
		}
	}
	return true
}

func (e *evaluator) key(code Code, msg string) {
	e.findings = append(e.findings, Finding{Code: code, KeyARN: e.keyARN, Message: msg})
}

// checkAliases reports kms:ResourceAliases in use while the key has no alias:
// callers authorised by alias are then denied.
func (e *evaluator) checkAliases(doc *policy.Document) {
	where := ""
	switch {
	case doc != nil && usesConditionKey(doc, "kms:ResourceAliases"):
		where = "the key policy"
	case e.in.Config.IAMUsesResourceAliases:
		where = "IAM policies"
	default:
		return
	}
	for _, a := range e.in.Key.Aliases {
		if strings.TrimSpace(a) != "" {
			return
		}
	}
	e.key(AliasRequired, "kms:ResourceAliases is used in "+where+" but key "+e.keyName()+" has no alias: principals authorised by alias fail with KMSAccessDeniedException")
}

func usesConditionKey(doc *policy.Document, key string) bool {
	for _, s := range doc.Statements {
		for _, b := range s.Condition {
			for _, k := range b.Keys {
				if strings.EqualFold(strings.TrimSpace(k.Key), key) {
					return true
				}
			}
		}
	}
	return false
}

func (e *evaluator) result() Result {
	r := Result{Findings: e.findings, Repoint: e.repoint}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		if a.Principal != b.Principal {
			return a.Principal < b.Principal
		}
		return a.Message < b.Message
	})
	r.Compliance = Compliant
	if len(r.Findings) > 0 {
		r.Compliance = NonCompliant
	}
	for _, p := range e.principals {
		if g, ok := e.grants[p]; ok {
			r.Grants = append(r.Grants, g)
		}
	}
	r.Publishers = len(e.principals) + len(e.pubs.aws)
	if e.pubs.anyone {
		r.Publishers++
	}
	if r.Publishers < 1 {
		r.Publishers = 1 // the owner publishes
	}
	return r
}

// MergeGrants unions grants per principal (values deduplicated, sorted), so
// that one key-policy write covers every topic on the key. The result is
// sorted by principal.
func MergeGrants(gs []Grant) []Grant {
	by := map[string]*Grant{}
	var order []string
	for _, g := range gs {
		p := normPrincipal(g.Principal)
		m := by[p]
		if m == nil {
			m = &Grant{Principal: p}
			by[p] = m
			order = append(order, p)
		}
		m.SourceAccounts = append(m.SourceAccounts, g.SourceAccounts...)
		m.SourceARNs = append(m.SourceARNs, g.SourceARNs...)
		m.TopicARNs = append(m.TopicARNs, g.TopicARNs...)
	}
	sort.Strings(order)
	out := make([]Grant, 0, len(order))
	for _, p := range order {
		m := by[p]
		out = append(out, Grant{Principal: p, SourceAccounts: uniqSorted(m.SourceAccounts), SourceARNs: uniqSorted(m.SourceARNs), TopicARNs: uniqSorted(m.TopicARNs)})
	}
	return out
}

// who says whose messages break, from the sources table when it knows the principal.
func who(p string) string {
	if s, ok := sources.Lookup(p); ok && s.Publishes != "" {
		return s.Publishes
	}
	return "messages that " + p + " publishes to this topic"
}
