package awsedge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cfgtypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// recordedTopicsExpression lists the recorded topics with their tags. The
// queryable properties of AWS::SNS::Topic (arn, resourceId, tags,
// configuration.KmsMasterKeyId, configuration.TopicArn, configuration.Owner,
// the feedback role ARNs...) do not include the topic's access policy:
// https://github.com/awslabs/aws-config-resource-schema/blob/master/config/properties/resource-types/AWS::SNS::Topic.properties.json
// so the key and policy come from each page's configuration items
// (BatchGetResourceConfig), and the query only pages through the topics.
const recordedTopicsExpression = "SELECT resourceId, tags WHERE resourceType = 'AWS::SNS::Topic'"

// RecordedTopicsPageSize is both the largest SelectResourceConfig page and
// the most resource keys one BatchGetResourceConfig takes:
// https://docs.aws.amazon.com/config/latest/APIReference/API_SelectResourceConfig.html
// https://docs.aws.amazon.com/config/latest/APIReference/API_BatchGetResourceConfig.html
const RecordedTopicsPageSize = 100

// RecordedTopics returns one page of the topics AWS Config records in this
// account and Region, from the page token ("" for the first), and the token
// of the next page ("" after the last): one SelectResourceConfig and one
// BatchGetResourceConfig per page.
//
// Each topic carries what Config recorded: KmsMasterKeyId and Policy from
// its configuration item, Tags from the query. What Config did not record
// is left nil (Policy nil: read it with GetTopicAttributes; Tags nil: read
// them with ListTagsForResource); an SNS topic always has an access policy,
// so a nil Policy never means "no policy". Deleted topics are left out.
//
// When Config cannot answer (no recorder, not allowed, no Config in the
// partition) the error is ErrSelectUnavailable: the caller lists topics.
func (a *Account) RecordedTopics(ctx context.Context, token string) ([]rules.Topic, string, error) {
	in := &configservice.SelectResourceConfigInput{Expression: aws.String(recordedTopicsExpression), Limit: RecordedTopicsPageSize}
	if token != "" {
		in.NextToken = aws.String(token)
	}
	out, err := a.config.SelectResourceConfig(ctx, in)
	if err != nil {
		return nil, "", recordedError(fmt.Errorf("select resource config: %w", err))
	}
	next := aws.ToString(out.NextToken)
	if next == token {
		next = "" // a token that does not move would loop forever
	}
	topics := make([]rules.Topic, 0, len(out.Results))
	index := map[string]int{}
	var keys []cfgtypes.ResourceKey
	for _, r := range out.Results {
		var row struct {
			ResourceID string `json:"resourceId"`
			Tags       []struct {
				Key   string `json:"key"`
				Value string `json:"value"`
			} `json:"tags"`
		}
		if err := json.Unmarshal([]byte(r), &row); err != nil {
			return nil, "", fmt.Errorf("select resource config: result row %s: %w", r, err)
		}
		if !isTopicARN(row.ResourceID) {
			continue
		}
		if _, dup := index[row.ResourceID]; dup {
			continue
		}
		tags := make(map[string]string, len(row.Tags))
		for _, t := range row.Tags {
			tags[t.Key] = t.Value
		}
		index[row.ResourceID] = len(topics)
		topics = append(topics, rules.Topic{ARN: row.ResourceID, Tags: tags})
		keys = append(keys, cfgtypes.ResourceKey{ResourceType: cfgtypes.ResourceTypeTopic, ResourceId: aws.String(row.ResourceID)})
	}
	if len(keys) == 0 {
		return topics, next, nil
	}
	gone := map[string]bool{}
	for len(keys) > 0 {
		got, err := a.config.BatchGetResourceConfig(ctx, &configservice.BatchGetResourceConfigInput{ResourceKeys: keys})
		if err != nil {
			return nil, "", recordedError(fmt.Errorf("batch get resource config: %w", err))
		}
		for _, ci := range got.BaseConfigurationItems {
			i, ok := index[aws.ToString(ci.ResourceId)]
			if !ok {
				continue
			}
			switch ci.ConfigurationItemStatus {
			case cfgtypes.ConfigurationItemStatusResourceDeleted, cfgtypes.ConfigurationItemStatusResourceDeletedNotRecorded:
				gone[topics[i].ARN] = true
				continue
			}
			applyConfiguration(&topics[i], aws.ToString(ci.Configuration))
		}
		// Config may leave keys unprocessed; ask again for those only, and
		// stop when it makes no progress (the topics keep Policy nil and
		// are read from SNS).
		if len(got.UnprocessedResourceKeys) >= len(keys) {
			break
		}
		keys = got.UnprocessedResourceKeys
	}
	if len(gone) > 0 {
		kept := topics[:0]
		for _, t := range topics {
			if !gone[t.ARN] {
				kept = append(kept, t)
			}
		}
		topics = kept
	}
	return topics, next, nil
}

// applyConfiguration reads a topic's recorded configuration: the attributes
// GetTopicAttributes returns (KmsMasterKeyId, Policy, ...). A configuration
// without Policy leaves the topic to be read from SNS.
func applyConfiguration(t *rules.Topic, raw string) {
	var attrs map[string]any
	if json.Unmarshal([]byte(raw), &attrs) != nil {
		return
	}
	pol, ok := attrs["Policy"].(string)
	if !ok || strings.TrimSpace(pol) == "" {
		return
	}
	t.Policy = []byte(pol)
	if k, ok := attrs["KmsMasterKeyId"].(string); ok {
		t.KMSMasterKeyID = k
	}
}

func recordedError(err error) error {
	if selectUnavailableCodes[ErrorCode(err)] {
		return &SelectUnavailableError{Reason: "recorded topics", Err: err}
	}
	return err
}
