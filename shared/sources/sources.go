// Package sources is the SNS documentation's service-principal table: the
// AWS event sources that publish to SNS topics, their service principals, how to scope a confused-deputy condition
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

// table is the SNS documentation's service-principal table (and its note on IAM roles),
// checked against the SNS guide's page "Key management" (sns-key-management,
// section "Enable compatibility between event sources from AWS services and
// encrypted topics").
//
// ARN patterns: a wrong aws:SourceArn pattern silently breaks delivery, so
// each pattern names only what is certain about the publishing resource (its
// ARN service namespace, and the topic's account) and wildcards the rest. The
// account is the part that stops a confused deputy; resource-level narrowing
// comes from the topic policy's own aws:SourceArn when it names one.
//   - S3 bucket ARNs carry neither region nor account (arn:aws:s3:::bucket);
//     aws:SourceAccount does the account scoping there.
//   - Incident Manager response plans, incident records and replication sets
//     are global (arn:aws:ssm-incidents::111122223333:response-plan/x), so the
//     region is a wildcard; "*" in ArnLike also matches an empty segment.
//     Contacts carry a region that need not be the topic's, also wildcarded.
//   - dynamodb.amazonaws.com publishes DAX cluster events (DAX ARNs use the
//     "dax" namespace, arn:aws:dax:region:account:cache/name) and
//     importexport.amazonaws.com publishes Snowball job events (namespace
//     "snowball"): the namespace in their SourceArn is not documented, so the
//     service segment is a wildcard and only the account (and, for DAX, the
//     region: a cluster notifies a topic of its own region) is pinned.
var table = []Source{
	{Principal: "cloudwatch.amazonaws.com", Name: "Amazon CloudWatch", Publishes: "CloudWatch alarms publishing to this topic", ARNPattern: "arn:{partition}:cloudwatch:{region}:{account}:alarm:*", ConfusedDeputy: true},
	{Principal: "events.amazonaws.com", Name: "Amazon CloudWatch Events (EventBridge)", Publishes: "EventBridge rules targeting this topic", ConfusedDeputy: false},
	{Principal: "codecommit.amazonaws.com", Name: "AWS CodeCommit", Publishes: "CodeCommit repository triggers publishing to this topic", ARNPattern: "arn:{partition}:codecommit:{region}:{account}:*", ConfusedDeputy: true},
	{Principal: "codestar-notifications.amazonaws.com", Name: "AWS CodeStar Notifications", Publishes: "CodeStar notification rules (CodeBuild, CodeCommit, CodeDeploy, CodePipeline events) sent to this topic", ARNPattern: "arn:{partition}:codestar-notifications:{region}:{account}:*", ConfusedDeputy: true},
	{Principal: "dms.amazonaws.com", Name: "AWS Database Migration Service", Publishes: "DMS event subscriptions publishing to this topic", ARNPattern: "arn:{partition}:dms:{region}:{account}:*", ConfusedDeputy: true},
	{Principal: "ds.amazonaws.com", Name: "AWS Directory Service", Publishes: "Directory Service status notifications sent to this topic", ARNPattern: "arn:{partition}:ds:{region}:{account}:*", ConfusedDeputy: true},
	{Principal: "dynamodb.amazonaws.com", Name: "Amazon DynamoDB (DAX)", Publishes: "DynamoDB Accelerator (DAX) cluster events sent to this topic", ARNPattern: "arn:{partition}:*:{region}:{account}:*", ConfusedDeputy: true},
	{Principal: "inspector.amazonaws.com", Name: "Amazon Inspector", Publishes: "Amazon Inspector assessment notifications sent to this topic", ARNPattern: "arn:{partition}:inspector:{region}:{account}:*", ConfusedDeputy: true},
	{Principal: "redshift.amazonaws.com", Name: "Amazon Redshift", Publishes: "Redshift event subscriptions publishing to this topic", ARNPattern: "arn:{partition}:redshift:{region}:{account}:*", ConfusedDeputy: true},
	{Principal: "events.rds.amazonaws.com", Name: "Amazon RDS", Publishes: "RDS event subscriptions publishing to this topic", ARNPattern: "arn:{partition}:rds:{region}:{account}:*", ConfusedDeputy: true},
	{Principal: "glacier.amazonaws.com", Name: "Amazon S3 Glacier", Publishes: "S3 Glacier vault notifications sent to this topic", ARNPattern: "arn:{partition}:glacier:{region}:{account}:*", ConfusedDeputy: true},
	{Principal: "ses.amazonaws.com", Name: "Amazon Simple Email Service", Publishes: "SES bounce, complaint and delivery notifications sent to this topic", ARNPattern: "arn:{partition}:ses:{region}:{account}:*", ConfusedDeputy: true},
	{Principal: "s3.amazonaws.com", Name: "Amazon Simple Storage Service", Publishes: "S3 event notifications to this topic", ARNPattern: "arn:{partition}:s3:::*", ConfusedDeputy: true},
	{Principal: "importexport.amazonaws.com", Name: "AWS Snowball", Publishes: "Snowball job notifications sent to this topic", ARNPattern: "arn:{partition}:*:*:{account}:*", ConfusedDeputy: true},
	{Principal: "ssm-incidents.amazonaws.com", Name: "AWS Systems Manager Incident Manager", Publishes: "Incident Manager incident notifications and chat channel updates sent to this topic", ARNPattern: "arn:{partition}:ssm-incidents:*:{account}:*", ConfusedDeputy: true},
	{Principal: "ssm-contacts.amazonaws.com", Name: "AWS Systems Manager Incident Manager Contacts", Publishes: "Incident Manager contact engagements sent to this topic", ARNPattern: "arn:{partition}:ssm-contacts:*:{account}:*", ConfusedDeputy: true},

	// The SNS documentation's note: these sources publish through an IAM role that the key
	// policy must name, so granting their service principal would fix nothing.
	{Principal: "autoscaling.amazonaws.com", Name: "Amazon EC2 Auto Scaling", Publishes: "EC2 Auto Scaling lifecycle and scaling notifications sent to this topic", ConfusedDeputy: true, NeedsRole: true},
	{Principal: "elastictranscoder.amazonaws.com", Name: "Amazon Elastic Transcoder", Publishes: "Elastic Transcoder job notifications sent to this topic", ConfusedDeputy: true, NeedsRole: true},
	{Principal: "codepipeline.amazonaws.com", Name: "AWS CodePipeline", Publishes: "CodePipeline manual approval notifications sent to this topic", ConfusedDeputy: true, NeedsRole: true},
	{Principal: "config.amazonaws.com", Name: "AWS Config", Publishes: "AWS Config configuration and compliance notifications sent to this topic", ConfusedDeputy: true, NeedsRole: true},
	{Principal: "elasticbeanstalk.amazonaws.com", Name: "AWS Elastic Beanstalk", Publishes: "Elastic Beanstalk environment notifications sent to this topic", ConfusedDeputy: true, NeedsRole: true},
	{Principal: "iot.amazonaws.com", Name: "AWS IoT", Publishes: "AWS IoT rule actions publishing to this topic", ConfusedDeputy: true, NeedsRole: true},
	{Principal: "imagebuilder.amazonaws.com", Name: "EC2 Image Builder", Publishes: "EC2 Image Builder pipeline notifications sent to this topic", ConfusedDeputy: true, NeedsRole: true},
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

// InTable reports whether the principal is in the SNS documentation's table of service
// principals a fix may add (NeedsRole rows excluded).
func InTable(principal string) bool {
	s, ok := Lookup(principal)
	return ok && !s.NeedsRole
}

// SourceARN fills the pattern for a topic's partition, region and account.
func (s Source) SourceARN(partition, region, account string) string {
	// Plain replacements: a strings.Replacer per call cost a tenth of a judgement.
	p := strings.ReplaceAll(s.ARNPattern, "{partition}", partition)
	p = strings.ReplaceAll(p, "{region}", region)
	return strings.ReplaceAll(p, "{account}", account)
}

// All returns the table (a copy).
func All() []Source { return append([]Source(nil), table...) }
