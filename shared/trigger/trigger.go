// Package trigger turns the events that invoke the guard (EventBridge
// "AWS API Call via CloudTrail" events and AWS Config custom-rule events) into
// one typed Request, decoded once at the edge. It is pure: no AWS SDK.
//
// An event either decodes into a Request, is ignored as a whole (Request.Skip
// says why; no error), or is malformed (an error wrapping ErrMalformed), so
// that a malformed event fails the invocation and reaches the dead-letter
// queue instead of being dropped. The Request names which resource to look
// at and nothing more: the guard is level-based and re-reads current state.
package trigger

import (
	"errors"
	"strings"
	"time"
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed event")

// Kind says what an event asks the guard to look at.
type Kind string

const (
	// TopicChange: one topic changed (CreateTopic, SetTopicAttributes); TopicARN is set.
	TopicChange Kind = "TopicChange"
	// KeyChange: one key changed (policy, state or alias); KeyID is its ARN.
	KeyChange Kind = "KeyChange"
	// ConfigChange: AWS Config reports one resource (change or oversized item).
	ConfigChange Kind = "ConfigChange"
	// ConfigSweep: AWS Config's periodic trigger; every topic is evaluated.
	ConfigSweep Kind = "ConfigSweep"
)

// Request is a decoded event.
type Request struct {
	Kind      Kind   // "" for an event the guard does not handle
	Source    string // "aws.sns", "aws.kms" or "aws.config"
	EventName string // CloudTrail eventName, or Config messageType
	EventID   string // CloudTrail eventID (else the EventBridge id); "" for Config
	// Account, Region and Partition are those of the resource (taken from its
	// ARN), which is where the guard must act; for a sweep they are the
	// rule's. Account is always 12 digits on a non-skipped request.
	Account, Region, Partition string
	// TopicARN is the topic of a TopicChange or ConfigChange, always a
	// well-formed SNS topic ARN.
	TopicARN string
	// KeyID is the key of a KeyChange, always a full KMS key ARN (a bare key
	// id from requestParameters is completed with the event's region and account).
	KeyID string
	// Alias is the alias name of CreateAlias/UpdateAlias/DeleteAlias.
	Alias string
	// Policy is the key policy a PutKeyPolicy call wrote
	// (requestParameters.policy, a JSON document carried as a string);
	// "" for other events or when CloudTrail left it out. It is not validated
	// here: the guard parses it and ignores one it cannot read. CloudTrail
	// records the policy text in PutKeyPolicy entries:
	// https://docs.aws.amazon.com/kms/latest/developerguide/ct-put-key-policy.html
	Policy string
	// Actor is who made the call: the role behind an assumed-role session
	// (sessionContext.sessionIssuer.arn), else userIdentity.arn.
	Actor string
	// Skip, when non-empty, says why the whole event is ignored.
	Skip   string
	Config *ConfigInfo // Config events only
}

// ConfigInfo is what an AWS Config custom-rule event adds.
type ConfigInfo struct {
	ResultToken    string
	RuleName       string
	RuleARN        string
	RuleParameters map[string]string // nil when the rule has none
	ResourceType   string
	ResourceID     string
	ResourceName   string
	// OrderingTimestamp is the configuration item's capture time (the
	// notification time for a sweep): what PutEvaluations wants.
	OrderingTimestamp time.Time
	Deleted           bool // ResourceDeleted / ResourceDeletedNotRecorded
	EventLeftScope    bool
	Oversized         bool // OversizedConfigurationItemChangeNotification
	TestMode          bool // ResultToken "TESTMODE": never call PutEvaluations
}

// IsSelf says whether the event was caused by the role roleARN, the guard's
// own identity: either an IAM role ARN (arn:aws:iam::<acct>:role/<path/><name>)
// or the assumed-role ARN STS GetCallerIdentity returns inside Lambda
// (arn:aws:sts::<acct>:assumed-role/<name>/<session>). Role names are unique
// within an account whatever their path (and IAM compares them without case),
// so partition, account and name decide; the session name does not matter.
func (r Request) IsSelf(roleARN string) bool {
	a, okA := roleOf(r.Actor)
	b, okB := roleOf(roleARN)
	return okA && okB && a.partition == b.partition && a.account == b.account && strings.EqualFold(a.name, b.name)
}

type role struct{ partition, account, name string }

// roleOf extracts the role of an IAM role ARN or an STS assumed-role ARN.
func roleOf(s string) (role, bool) {
	a, err := parseARN(s)
	if err != nil || a.Region != "" {
		return role{}, false
	}
	switch {
	case a.Service == "iam" && strings.HasPrefix(a.Resource, "role/"):
		p := strings.Split(a.Resource, "/")
		name := p[len(p)-1]
		if name == "" {
			return role{}, false
		}
		return role{a.Partition, a.Account, name}, true
	case a.Service == "sts" && strings.HasPrefix(a.Resource, "assumed-role/"):
		p := strings.Split(a.Resource, "/")
		if len(p) != 3 || p[1] == "" || p[2] == "" {
			return role{}, false
		}
		return role{a.Partition, a.Account, p[1]}, true
	}
	return role{}, false
}
