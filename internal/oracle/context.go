package oracle

import (
	"sort"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/sources"
)

// The accounts and times the differential tests use.
const (
	Account      = "111122223333" // the topic's and the key's account
	OtherAccount = "777788889999" // someone else's (no corpus policy names it)
	Region       = "us-east-1"
	TopicARN     = "arn:aws:sns:us-east-1:111122223333:orders"
	KeyARN       = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	// A fixed request time keeps every run identical.
	CurrentTime = "2026-06-01T12:00:00Z"
	EpochTime   = "1780315200"
	// ServiceAccount is the aws:PrincipalAccount of a service principal's
	// request. IAM includes the key in every request ("This key is always
	// included in the request context",
	// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalaccount)
	// but documents no value for a service principal; the engine's judge
	// takes it as present with an unknown value (docs/request-context.md), so
	// any account stands for it here, one that no corpus policy names.
	ServiceAccount = "444455556666"
)

// Ctx is a fully known request context: every key present has known values
// (several for a multi-valued key), every key absent is absent.
type Ctx map[string][]string

// multiValued are the keys of this request that are sets (an array for the
// evaluator; ForAnyValue/ForAllValues apply to them).
var multiValued = map[string]bool{
	"kms:encryptioncontextkeys": true,
	"kms:resourcealiases":       true,
}

// Oracle is the context as the evaluator takes it: a string per single-valued
// key, an array per multi-valued one.
func (c Ctx) Oracle() map[string]any {
	m := make(map[string]any, len(c))
	for k, v := range c {
		if multiValued[strings.ToLower(k)] {
			m[k] = append([]string{}, v...)
		} else if len(v) > 0 {
			m[k] = v[0]
		}
	}
	return m
}

// Engine is the context as shared/policy takes it.
func (c Ctx) Engine() policy.Context {
	// The oracle's requests are complete: a key they do not name is absent.
	pc := policy.NewContext()
	pc.SetOthersAbsent()
	for k, v := range c {
		pc.Set(k, v...)
	}
	return pc
}

// Keys lists the keys present, sorted (for messages).
func (c Ctx) Keys() []string {
	ks := make([]string, 0, len(c))
	for k := range c {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Source is where a service's request comes from: its aws:SourceAccount and
// aws:SourceArn. The zero Source means a request without those keys
// (EventBridge's).
type Source struct {
	Account string
	ARN     string
}

// None reports whether the request carries no source keys.
func (s Source) None() bool { return s.Account == "" && s.ARN == "" }

// SNSContext is the request context SNS creates when it calls KMS for the
// service principal to use the key on the topic's behalf, as docs/DESIGN.md
// lists it (each key with its AWS documentation source there):
// aws:PrincipalIsAWSService, aws:PrincipalServiceName, aws:SourceAccount and
// aws:SourceArn (unless src is zero), aws:ResourceAccount, kms:ViaService, the
// encryption context SNS sets (kms:EncryptionContext:aws:sns:topicArn,
// kms:EncryptionContextKeys), the key's kms:KeySpec, kms:KeyUsage,
// kms:KeyOrigin and kms:ResourceAliases (absent when the key has no alias),
// and the global keys every request has (aws:SecureTransport,
// aws:RequestedRegion, aws:CurrentTime, aws:EpochTime, and
// aws:PrincipalAccount, which IAM includes in every request: ServiceAccount).
// Keys not documented for service principals (aws:PrincipalArn,
// kms:CallerAccount, aws:PrincipalOrgID, ...) are absent.
func SNSContext(principal, topicARN, keyARN string, aliases []string, src Source) Ctx {
	region, keyAccount := Region, Account
	if f := strings.SplitN(topicARN, ":", 6); len(f) == 6 && f[3] != "" {
		region = f[3]
	}
	if f := strings.SplitN(keyARN, ":", 6); len(f) == 6 && f[4] != "" {
		keyAccount = f[4]
	}
	c := Ctx{
		"aws:PrincipalIsAWSService":              {"true"},
		"aws:PrincipalServiceName":               {principal},
		"aws:PrincipalAccount":                   {ServiceAccount},
		"aws:ResourceAccount":                    {keyAccount},
		"kms:ViaService":                         {"sns." + region + ".amazonaws.com"},
		"kms:EncryptionContext:aws:sns:topicArn": {topicARN},
		"kms:EncryptionContextKeys":              {"aws:sns:topicArn"},
		"kms:KeySpec":                            {"SYMMETRIC_DEFAULT"},
		"kms:KeyUsage":                           {"ENCRYPT_DECRYPT"},
		"kms:KeyOrigin":                          {"AWS_KMS"},
		"aws:SecureTransport":                    {"true"},
		"aws:RequestedRegion":                    {region},
		"aws:CurrentTime":                        {CurrentTime},
		"aws:EpochTime":                          {EpochTime},
	}
	var as []string
	for _, a := range aliases {
		// kms:ResourceAliases holds alias names ("alias/orders").
		if a = strings.TrimSpace(a); a != "" {
			as = append(as, a)
		}
	}
	if len(as) > 0 {
		c["kms:ResourceAliases"] = as
	}
	if src.Account != "" {
		c["aws:SourceAccount"] = []string{src.Account}
	}
	if src.ARN != "" {
		c["aws:SourceArn"] = []string{src.ARN}
	}
	return c
}

// PrincipalContext is the context of a request made by an AWS principal (a
// role or an account's root, principalARN) with its own credentials: no
// service keys, no encryption-context keys beyond what the caller sends (none
// here). aws:PrincipalAccount is in every request and aws:PrincipalArn in
// every signed one (IAM global condition keys page,
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn).
func PrincipalContext(principalARN, keyARN string) Ctx {
	keyAccount := Account
	if f := strings.SplitN(keyARN, ":", 6); len(f) == 6 && f[4] != "" {
		keyAccount = f[4]
	}
	c := Ctx{
		"aws:PrincipalIsAWSService": {"false"},
		"aws:PrincipalArn":          {principalARN},
		"aws:ResourceAccount":       {keyAccount},
		"aws:SecureTransport":       {"true"},
		"aws:RequestedRegion":       {Region},
		"aws:CurrentTime":           {CurrentTime},
		"aws:EpochTime":             {EpochTime},
		"kms:KeySpec":               {"SYMMETRIC_DEFAULT"},
		"kms:KeyUsage":              {"ENCRYPT_DECRYPT"},
		"kms:KeyOrigin":             {"AWS_KMS"},
	}
	if f := strings.SplitN(principalARN, ":", 6); len(f) == 6 && f[4] != "" {
		c["aws:PrincipalAccount"] = []string{f[4]}
	}
	return c
}

// ExampleSourceARN is a concrete source ARN of the service in the account:
// an alarm for CloudWatch, a bucket for S3, a resource of the sources table's
// ARN pattern otherwise. "" for a service without source keys (EventBridge).
func ExampleSourceARN(principal, region, account string) string {
	switch strings.ToLower(principal) {
	case "cloudwatch.amazonaws.com":
		return "arn:aws:cloudwatch:" + region + ":" + account + ":alarm:oracle-alarm"
	case "s3.amazonaws.com":
		// Bucket ARNs carry no account: name the bucket after it.
		return "arn:aws:s3:::oracle-bucket-" + account
	case "events.amazonaws.com":
		return ""
	}
	pattern := ""
	if s, ok := sources.Lookup(principal); ok {
		pattern = s.SourceARN("aws", region, account)
	}
	if pattern == "" {
		name := strings.SplitN(principal, ".", 2)[0]
		pattern = "arn:aws:" + name + ":" + region + ":" + account + ":*"
	}
	f := strings.SplitN(pattern, ":", 6)
	if len(f) == 6 && f[2] == "*" {
		f[2] = strings.SplitN(principal, ".", 2)[0]
	}
	if len(f) == 6 && f[3] == "*" {
		f[3] = region
	}
	if len(f) == 6 {
		f[5] = strings.ReplaceAll(f[5], "*", "oracle-source")
		if f[5] == "" {
			f[5] = "oracle-source"
		}
		return strings.Join(f, ":")
	}
	return strings.ReplaceAll(pattern, "*", "oracle-source")
}

// OwnSource is a request of the service from the given account's resource.
func OwnSource(principal, region, account string) Source {
	if !sourceKeys(principal) {
		return Source{}
	}
	return Source{Account: account, ARN: ExampleSourceARN(principal, region, account)}
}

// sourceKeys reports whether the service's requests carry aws:SourceAccount
// and aws:SourceArn (all but EventBridge's; the SNS documentation's
// service-principal table).
func sourceKeys(principal string) bool {
	if s, ok := sources.Lookup(principal); ok {
		return s.ConfusedDeputy
	}
	return true
}

// SourceKeys is sourceKeys for the tests.
func SourceKeys(principal string) bool { return sourceKeys(principal) }
