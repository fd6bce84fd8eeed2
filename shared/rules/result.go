package rules

// Grant is one principal's grant that the fix must make true in the key
// policy: Principal may call kms:GenerateDataKey* and kms:Decrypt, limited by
// StringEquals aws:SourceAccount SourceAccounts and ArnLike aws:SourceArn
// SourceARNs (both empty for events.amazonaws.com), for requests about the
// topics TopicARNs. Grants from several topics
// on one key are merged per principal by MergeGrants.
type Grant struct {
	Principal      string
	SourceAccounts []string
	SourceARNs     []string
	// TopicARNs are the topics the grant serves. The planner uses them to
	// judge the owner's narrowing of our statement (a pin on
	// kms:EncryptionContext:aws:sns:topicArn, kms:ViaService) in the request
	// SNS makes for each; without them those keys are unknown to it.
	TopicARNs []string `json:",omitempty"`
}

// Compliance values reported to AWS Config.
const (
	Compliant     = "COMPLIANT"
	NonCompliant  = "NON_COMPLIANT"
	NotApplicable = "NOT_APPLICABLE"
)

// Result is the judgement of one topic.
type Result struct {
	Compliance string
	Findings   []Finding // never nil
	// Grants are what a key-policy fix must ensure for the fixable findings
	// (GRANT_MISSING, CONFUSED_DEPUTY_MISSING on the principal's own statement,
	// CONFUSED_DEPUTY_UNSUPPORTED). Empty when nothing is fixable.
	Grants []Grant
	// Publishers is P of the SNS documentation's cost formula: the distinct publishing
	// principals (required + topic policy + discovered).
	Publishers int
	// Repoint is true when the fix is to re-point the topic to
	// Config.RemediationKeyID (TOPIC_UNENCRYPTED, KEY_AWS_MANAGED, KEY_NOT_SYMMETRIC with a key configured).
	Repoint bool
}
