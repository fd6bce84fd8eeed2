package awsedge

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// GetTopic reads a topic's key and access policy (one GetTopicAttributes).
// Tags are read separately (TopicTags) because most paths never need them.
func (a *Account) GetTopic(ctx context.Context, topicARN string) (rules.Topic, error) {
	out, err := a.sns.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(topicARN)})
	if err != nil {
		return rules.Topic{}, fmt.Errorf("get topic attributes (%s): %w", topicARN, err)
	}
	t := rules.Topic{ARN: topicARN, KMSMasterKeyID: out.Attributes["KmsMasterKeyId"]}
	if p := out.Attributes["Policy"]; p != "" {
		t.Policy = []byte(p)
	}
	return t, nil
}

// TopicTags returns a topic's tags (ListTagsForResource is not paginated).
func (a *Account) TopicTags(ctx context.Context, topicARN string) (map[string]string, error) {
	out, err := a.sns.ListTagsForResource(ctx, &sns.ListTagsForResourceInput{ResourceArn: aws.String(topicARN)})
	if err != nil {
		return nil, fmt.Errorf("list topic tags (%s): %w", topicARN, err)
	}
	tags := make(map[string]string, len(out.Tags))
	for _, t := range out.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags, nil
}

// ListTopics returns every topic ARN of the account and region, all pages.
func (a *Account) ListTopics(ctx context.Context) ([]string, error) {
	var arns []string
	p := sns.NewListTopicsPaginator(a.sns, &sns.ListTopicsInput{}, func(o *sns.ListTopicsPaginatorOptions) {
		o.StopOnDuplicateToken = true
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list topics: %w", err)
		}
		for _, t := range page.Topics {
			arns = append(arns, aws.ToString(t.TopicArn))
		}
	}
	return arns, nil
}

// SetTopicKey points a topic at keyID ("" removes encryption, which the
// guard never does; the parameter is kept honest rather than refused).
func (a *Account) SetTopicKey(ctx context.Context, topicARN, keyID string) error {
	_, err := a.sns.SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{
		TopicArn:       aws.String(topicARN),
		AttributeName:  aws.String("KmsMasterKeyId"),
		AttributeValue: aws.String(keyID),
	})
	if err != nil {
		return fmt.Errorf("set topic key (%s): %w", topicARN, err)
	}
	return nil
}

// Publish sends an alert. Attributes are String message attributes (for
// subscription filter policies); empty values are dropped because SNS
// rejects them. The subject is made valid for SNS (printable, one line,
// at most 100 characters) instead of failing the alert.
func (a *Account) Publish(ctx context.Context, topicARN, subject, message string, attrs map[string]string) error {
	in := &sns.PublishInput{TopicArn: aws.String(topicARN), Message: aws.String(message)}
	if s := Subject(subject); s != "" {
		in.Subject = aws.String(s)
	}
	if len(attrs) > 0 {
		in.MessageAttributes = make(map[string]snstypes.MessageAttributeValue, len(attrs))
		for k, v := range attrs {
			if k == "" || v == "" {
				continue
			}
			in.MessageAttributes[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	if _, err := a.sns.Publish(ctx, in); err != nil {
		return fmt.Errorf("publish (%s): %w", topicARN, err)
	}
	return nil
}

// Subject returns s as a valid SNS subject: ASCII printable characters only
// (others become '?'; newlines and tabs a space), trimmed, at most 100 bytes.
func Subject(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r < utf8.RuneSelf && unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	out := strings.TrimSpace(b.String())
	if len(out) > 100 {
		out = strings.TrimSpace(out[:100])
	}
	return out
}
