package functions_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
	"github.com/snskeyguard/snskeyguard/shared/guard"
)

// TestUnpublishedAnnouncementReachesTheDeadLetterQueue: topic-guard fixes a
// key in remediate mode while its alert topic refuses every Publish (the
// topic does not exist). Before the invocation fails, the function writes
// the announcement to ANNOUNCE_QUEUE_URL (the template's dead-letter
// queue, encrypted with the stack's key), through the IAM proxy holding
// the role to template.yaml (sqs:SendMessage on the queue, the key's
// kms:GenerateDataKey and kms:Decrypt). The retry finds the key compliant,
// succeeds and announces nothing: the queue still holds the announcement.
func TestUnpublishedAnnouncementReachesTheDeadLetterQueue(t *testing.T) {
	gone := "arn:aws:sns:us-east-1:" + emulator.KumoAccount + ":snskeyguard-alerts-gone"
	r := newRig(t, "remediate", map[string]string{"ALERT_TOPIC_ARN": gone})
	const file = "topic-guard-SetTopicAttributes-alarms-key.json"
	payload, err := os.ReadFile(filepath.Join("../events", file))
	if err != nil {
		t.Fatal(err)
	}
	before := r.state()
	out, err := r.function("topic-guard").Invoke(t.Context(), payload)
	iamFail(t, "topic-guard with "+file, r.stack.IAM.TakeDenials())
	var fe *emulator.FunctionError
	if !errors.As(err, &fe) || !strings.Contains(string(out), "kept in the queue https://sqs.us-east-1.amazonaws.com/"+emulator.KumoAccount+"/"+emulator.DemoDeadLetterQueue) {
		t.Fatalf("want the invocation to fail saying the announcement is kept in the queue, got %v\n%s", err, out)
	}
	if after := r.state(); after.Policies["alarms-key"] == before.Policies["alarms-key"] {
		t.Fatal("the fix was not applied: the test proves nothing")
	}

	// The retry finds the key compliant: success, and nothing to announce.
	rep := r.invokeAs("topic-guard", file+" (retry)", payload)
	if n := rep.APICalls["KMS.PutKeyPolicy"] + rep.APICalls["SNS.Publish"] + rep.APICalls["SQS.SendMessage"]; n != 0 {
		t.Fatalf("the retry wrote, published or queued: %v", rep.APICalls)
	}

	// An operator reads the queue: one announcement, the alert of the fix.
	msgs, err := r.demo.SQS.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(r.demo.DeadLetterQueueURL),
		MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []guard.QueuedAnnouncement
	for _, m := range msgs.Messages {
		var q guard.QueuedAnnouncement
		if json.Unmarshal([]byte(aws.ToString(m.Body)), &q) != nil || q.Record != guard.QueuedRecord {
			continue
		}
		if a := m.MessageAttributes["snskeyguard"]; aws.ToString(a.StringValue) != guard.QueuedRecord ||
			aws.ToString(m.MessageAttributes["announcementId"].StringValue) != q.ID {
			t.Errorf("queued message attributes %v do not mark announcement %s", m.MessageAttributes, q.ID)
		}
		got = append(got, q)
	}
	if len(got) != 1 {
		t.Fatalf("%d announcements in the dead-letter queue, want 1: %+v", len(got), msgs.Messages)
	}
	q := got[0]
	var alert guard.Alert
	if err := json.Unmarshal([]byte(q.Body), &alert); err != nil || alert.Kind != "remediated" || alert.ID != q.ID ||
		alert.Topic != r.demo.Topics["alarms"] || q.Attrs["topicArn"] != r.demo.Topics["alarms"] {
		t.Fatalf("queued announcement %+v: want the remediated alert of alarms (%v)", q, err)
	}
	if !strings.HasSuffix(q.Subject, "["+q.ID+"]") || !strings.Contains(string(out), q.ID) || q.Function == "" ||
		q.EventName != "SetTopicAttributes" || q.EventID == "" || !strings.Contains(q.PublishError, gone) {
		t.Fatalf("queued announcement %+v: want its id in the subject and the invocation's error, the function, the event and why it was not published", q)
	}
}
