// Package rules judges one SNS topic and its KMS key against the contract of
// docs/DESIGN.md and returns findings with stable codes. It is pure: every fact it
// needs (topic attributes, key metadata, aliases, policies, discovered
// publishers, configuration) is passed in; nothing here talks to AWS.
package rules

import "github.com/snskeyguard/snskeyguard/shared/policy"

// Code is a stable finding code from docs/DESIGN.md. Codes are never renamed or reused.
type Code string

const (
	TopicUnencrypted          Code = "TOPIC_UNENCRYPTED"
	KeyAWSManaged             Code = "KEY_AWS_MANAGED"
	KeyNotSymmetric           Code = "KEY_NOT_SYMMETRIC"
	KeyDisabled               Code = "KEY_DISABLED"
	KeyPendingDeletion        Code = "KEY_PENDING_DELETION"
	KeyUnavailable            Code = "KEY_UNAVAILABLE"
	KeyNotFound               Code = "KEY_NOT_FOUND"
	KeyAccessDenied           Code = "KEY_ACCESS_DENIED"
	KeyOtherRegion            Code = "KEY_OTHER_REGION"
	KeyOtherAccount           Code = "KEY_OTHER_ACCOUNT"
	GrantMissing              Code = "GRANT_MISSING"
	GrantDenied               Code = "GRANT_DENIED"
	ConfusedDeputyMissing     Code = "CONFUSED_DEPUTY_MISSING"
	ConfusedDeputyMismatch    Code = "CONFUSED_DEPUTY_MISMATCH"
	ConfusedDeputyUnsupported Code = "CONFUSED_DEPUTY_UNSUPPORTED"
	AliasRequired             Code = "ALIAS_REQUIRED"
	PublisherNotGranted       Code = "PUBLISHER_NOT_GRANTED"
	SourceNeedsRole           Code = "SOURCE_NEEDS_ROLE"
	PolicyUnparseable         Code = "POLICY_UNPARSEABLE"
	PolicyTooLarge            Code = "POLICY_TOO_LARGE"
)

// Finding is one failed check. Its JSON shape is part of the report contract.
type Finding struct {
	Code      Code   `json:"code"`
	Principal string `json:"principal,omitempty"`
	KeyARN    string `json:"keyArn,omitempty"`
	Message   string `json:"message"`
	Fixable   bool   `json:"fixable"`
	// Uncertain marks a finding whose condition could not be decided (a
	// deny, or the only grants, depend on request values not known here;
	// docs/request-context.md); never fixed.
	Uncertain bool `json:"uncertain,omitempty"`
}

// Topic is what the guard read about an SNS topic.
type Topic struct {
	ARN            string            // arn:<partition>:sns:<region>:<account>:<name>
	KMSMasterKeyID string            // the attribute exactly as set ("" = unencrypted)
	Policy         []byte            // the topic's access policy JSON ("" = none)
	Tags           map[string]string // topic tags (for EXEMPT_TAG_KEY)
}

// KeyError says why a key could not be read; "" when it was read.
type KeyError string

const (
	KeyReadOK           KeyError = ""
	KeyReadNotFound     KeyError = "NotFound"      // KMSNotFoundException / NotFoundException
	KeyReadAccessDenied KeyError = "AccessDenied"  // AccessDeniedException on DescribeKey or GetKeyPolicy
	KeyReadOptIn        KeyError = "OptInRequired" // KMSOptInRequired
)

// Key is what the guard read about the KMS key a topic names.
type Key struct {
	ARN     string   // arn:<partition>:kms:<region>:<account>:key/<id>
	ID      string   // key id (uuid or mrk-...)
	Manager string   // "CUSTOMER" | "AWS"
	Spec    string   // KeySpec, e.g. "SYMMETRIC_DEFAULT"
	Usage   string   // KeyUsage, e.g. "ENCRYPT_DECRYPT"
	Origin  string   // Origin, e.g. "AWS_KMS", "EXTERNAL" ("" = not known)
	State   string   // KeyState, e.g. "Enabled", "Disabled", "PendingDeletion"
	Aliases []string // alias names ("alias/orders")
	Policy  []byte   // the key policy ("default") as returned by GetKeyPolicy
	// Parsed is optional: policy.Parse(Policy), made once per key by a caller
	// that judges many topics on the key. Evaluate reads it and never edits
	// it, so one document serves concurrent Evaluate calls; it is ignored
	// (and Policy parsed) unless Parsed.ParsedFrom(Policy), so a Policy
	// replaced after an outside edit is never judged by a stale document.
	Parsed *policy.Document
	Tags   map[string]string
	// ReadError is set when DescribeKey/GetKeyPolicy failed terminally; the
	// other fields may then be partly empty. Detail is the AWS error message.
	ReadError  KeyError
	ReadDetail string
	// NamedAs is how the topic names the key (KmsMasterKeyId), kept for messages.
	NamedAs string
}

// Publisher is a source discovered in the account that publishes to the topic
// (DISCOVER_SOURCES=true): a CloudWatch alarm action or an EventBridge rule target.
type Publisher struct {
	Principal string // "cloudwatch.amazonaws.com" | "events.amazonaws.com"
	SourceARN string // the alarm or rule ARN
}

// Config is the guard's configuration as far as judging is concerned.
type Config struct {
	RequiredPrincipals []string // REQUIRED_SERVICE_PRINCIPALS
	RemediationKeyID   string   // REMEDIATION_KEY_ID ("" = none)
	// IAMUsesResourceAliases says whether IAM policies (outside the key policy)
	// use kms:ResourceAliases; the key policy itself is inspected directly.
	IAMUsesResourceAliases bool
}

// Input is everything Evaluate needs for one topic.
type Input struct {
	Topic      Topic
	Key        *Key // nil when the topic is unencrypted
	Discovered []Publisher
	Config     Config
}
