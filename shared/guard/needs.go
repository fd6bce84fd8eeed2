package guard

// Entry point names (the functions/ folders).
const (
	EntryTopicGuard = "topic-guard"
	EntryKeyGuard   = "key-guard"
	EntryConfigRule = "config-rule"
)

// Needs lists the Account methods an entry point may call with these
// settings: inAccount in the account the event names (the function's own, or
// a member's through CROSS_ACCOUNT_ROLE_NAME), central with the function's
// own credentials wherever the event came from (alerts go to the one alert
// topic). The template's roles grant exactly the IAM actions of these methods
// (shared/awsedge Permissions maps methods to actions; internal/template tests
// compare), and the guard's tests check that no handler calls a method
// missing here. An unknown entry point needs nothing.
func (s Settings) Needs(entry string) (inAccount, central []string) {
	switch entry {
	case EntryTopicGuard, EntryKeyGuard, EntryConfigRule:
	default:
		return nil, nil
	}
	inAccount = []string{"GetTopic", "DescribeKey", "KeyPolicy", "KeyAliases"}
	if s.ExemptTagKey != "" {
		inAccount = append(inAccount, "TopicTags", "KeyTags")
	}
	if s.DiscoverSources {
		inAccount = append(inAccount, "AlarmTopics", "RuleTopics")
	}
	if s.Mode == ModeRemediate {
		inAccount = append(inAccount, "PutKeyPolicy")
		if s.RemediationKeyID != "" {
			inAccount = append(inAccount, "SetTopicKey")
		}
	}
	// Security Hub takes findings with the default product ARN only from the
	// account the finding is about (AwsAccountId), so they are imported in
	// that account, not centrally: "the identifier of the account that you
	// are calling BatchImportFindings from needs to be the same as the
	// AwsAccountId attribute for the finding"
	// (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchImportFindings.html).
	if s.SecurityHub {
		inAccount = append(inAccount, "ImportFindings")
	}
	switch entry {
	case EntryKeyGuard:
		inAccount = append(inAccount, "ListTopics", "SelectTopicsByKey")
	case EntryConfigRule:
		inAccount = append(inAccount, "ListTopics", "RecordedTopics", "PutEvaluations")
	}
	if s.AlertTopicARN != "" {
		central = append(central, "Publish")
		// Only an applied change is announced, so only a remediating guard
		// queues an announcement the alert topic did not take.
		if s.AnnounceQueueURL != "" && s.Mode == ModeRemediate {
			central = append(central, "Enqueue")
		}
	}
	if entry == EntryConfigRule {
		central = append(central, "InvokeAsync") // a sweep continues in its own function
	}
	return inAccount, central
}
