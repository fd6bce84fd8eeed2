package awsedge

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Enqueue writes one message to an SQS queue (the announcement queue):
// attributes are String message attributes, empty ones dropped. On a queue
// encrypted with a customer managed KMS key, SQS uses the key on the
// caller's behalf, so the caller also needs kms:GenerateDataKey and
// kms:Decrypt on that key (template.yaml grants both, scoped to the key).
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
func (a *Account) Enqueue(ctx context.Context, queueURL, body string, attrs map[string]string) error {
	in := &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)}
	for k, v := range attrs {
		if k == "" || v == "" {
			continue
		}
		if in.MessageAttributes == nil {
			in.MessageAttributes = map[string]sqstypes.MessageAttributeValue{}
		}
		in.MessageAttributes[k] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	if _, err := a.sqs.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("send message (%s): %w", queueURL, err)
	}
	return nil
}
