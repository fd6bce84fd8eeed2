package iamproxy

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// sqsFixture is fixture over testdata/template.yaml with edit applied to
// its text (to take a grant away).
func sqsFixture(t *testing.T, edit func(string) string) (*Proxy, *backend, *sqs.Client) {
	t.Helper()
	p, b, cfg := fixtureWith(t, alertEnv, edit, Options{})
	return p, b, sqs.NewFromConfig(cfg)
}

const (
	lettersURL = "https://sqs.us-east-1.amazonaws.com/000000000000/fixture-letters"
	lettersARN = "arn:aws:sqs:us-east-1:000000000000:fixture-letters"
	lettersKey = "arn:aws:kms:us-east-1:000000000000:key/fixture-QueueKey"
)

func send(c *sqs.Client, queueURL string) error {
	_, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String("{}")})
	return err
}

// SendMessage is authorized on the queue's ARN, and on an encrypted queue
// the producer's use of the queue's key is checked too; a role missing
// either is refused as SQS refuses it.
func TestSendMessageToEncryptedQueue(t *testing.T) {
	p, b, c := sqsFixture(t, nil)
	if err := send(c, lettersURL); err != nil {
		t.Fatalf("SendMessage with sqs:SendMessage and the key's grants: %v", err)
	}
	// An emulator's queue URL names the queue by its path; the Region is the request's.
	if err := send(c, "http://127.0.0.1:4566/000000000000/fixture-letters"); err != nil {
		t.Fatalf("SendMessage by an emulator's URL: %v", err)
	}
	if got := strings.Join(b.reached(), " "); got != "sqs:SendMessage sqs:SendMessage" || len(p.Denials()) != 0 || p.Actions()["sqs:SendMessage"] != 2 {
		t.Fatalf("backend %q, denials %v, actions %v", got, p.Denials(), p.Actions())
	}
	if err := send(c, "https://sqs.us-east-1.amazonaws.com/000000000000/fixture-plain"); err == nil ||
		apiError(t, err).ErrorCode() != "AccessDenied" || !strings.Contains(err.Error(), "sqs:SendMessage on resource: arn:aws:sqs:us-east-1:000000000000:fixture-plain") {
		t.Fatalf("SendMessage to a queue the role may not send to: %v", err)
	}

	for _, c := range []struct {
		name, drop, action, resource, code string
	}{
		{"without sqs:SendMessage", "          - Sid: SendToQueue\n            Effect: Allow\n            Action: sqs:SendMessage\n            Resource: !GetAtt Letters.Arn\n",
			"sqs:SendMessage", lettersARN, "AccessDenied"},
		{"without the key", "          - Sid: UseQueueKey\n            Effect: Allow\n            Action: [kms:GenerateDataKey, kms:Decrypt]\n            Resource: !GetAtt QueueKey.Arn\n",
			"kms:GenerateDataKey", lettersKey, "KMS.AccessDeniedException"},
		{"without kms:Decrypt", "Action: [kms:GenerateDataKey, kms:Decrypt]\n            Resource: !GetAtt QueueKey.Arn",
			"kms:Decrypt", lettersKey, "KMS.AccessDeniedException"},
	} {
		t.Run(c.name, func(t *testing.T) {
			edit := func(s string) string { return strings.Replace(s, c.drop, "", 1) }
			if c.name == "without kms:Decrypt" {
				edit = func(s string) string {
					return strings.Replace(s, c.drop, "Action: [kms:GenerateDataKey]\n            Resource: !GetAtt QueueKey.Arn", 1)
				}
			}
			p, b, client := sqsFixture(t, edit)
			err := send(client, lettersURL)
			if err == nil {
				t.Fatal("SendMessage passed")
			}
			if code := apiError(t, err).ErrorCode(); code != c.code {
				t.Errorf("code %s, want %s (%v)", code, c.code, err)
			}
			d := p.Denials()
			if len(d) != 1 || d[0].Action != c.action || d[0].Resource != c.resource {
				t.Fatalf("denials %+v, want %s on %s", d, c.action, c.resource)
			}
			if r := b.reached(); len(r) != 0 {
				t.Fatalf("a denied call reached the backend: %v", r)
			}
		})
	}
}
