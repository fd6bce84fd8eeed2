// Package sources is the seed's table of AWS event sources that publish to SNS
// topics: their service principals, how to scope a confused-deputy condition
// for each (the aws:SourceArn pattern), and the sources that need an IAM role
// instead of a service principal. It is data plus lookups; it imports nothing.
package sources

import (
	"strings"
)

// Source is one row of the table.
type Source struct {
	Principal string // service principal, lower case
	Name      string // the event source as a person names it ("Amazon CloudWatch")
	// Publishes is what breaks for whom, used in finding messages
	// ("CloudWatch alarms publishing to this topic").
	Publishes string
	// ARNPattern is the aws:SourceArn pattern with {partition}, {region} and
	// {account} placeholders; "" for EventBridge, where the conditions are unsupported.
	ARNPattern string
	// ConfusedDeputy is false only for events.amazonaws.com: aws:SourceAccount
	// and aws:SourceArn are absent from its requests and break delivery.
	ConfusedDeputy bool
	// NeedsRole marks sources that must be granted through an IAM role, not a
	// service principal (SOURCE_NEEDS_ROLE; never fixed).
	NeedsRole bool
}

// table is the seed's service-principal table (and its note on IAM roles).
// TODO(helper B): verify every ARN pattern and the NeedsRole rows with the search tool.
var table = []Source{
	{Principal: "cloudwatch.amazonaws.com", Name: "Amazon CloudWatch", Publishes: "CloudWatch alarms publishing to this topic", ARNPattern: "arn:{partition}:cloudwatch:{region}:{account}:alarm:*", ConfusedDeputy: true},
	{Principal: "events.amazonaws.com", Name: "Amazon CloudWatch Events (EventBridge)", Publishes: "EventBridge rules targeting this topic", ConfusedDeputy: false},
}

// Lookup finds a principal (case-insensitive).
func Lookup(principal string) (Source, bool) {
	p := strings.ToLower(strings.TrimSpace(principal))
	for _, s := range table {
		if s.Principal == p {
			return s, true
		}
	}
	return Source{}, false
}

// InTable reports whether the principal is in the seed's table of service
// principals a fix may add (NeedsRole rows excluded).
func InTable(principal string) bool {
	s, ok := Lookup(principal)
	return ok && !s.NeedsRole
}

// SourceARN fills the pattern for a topic's partition, region and account.
func (s Source) SourceARN(partition, region, account string) string {
	r := strings.NewReplacer("{partition}", partition, "{region}", region, "{account}", account)
	return r.Replace(s.ARNPattern)
}

// All returns the table (a copy).
func All() []Source { return append([]Source(nil), table...) }
