package awsedge

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

const testTopicARN = "arn:aws:sns:us-east-1:111122223333:orders"

func TestGetTopic(t *testing.T) {
	policy := `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"sns:Publish","Resource":"` + testTopicARN + `"}]}`
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response {
		return queryOK("GetTopicAttributes", snsNS, `<Attributes>`+
			`<entry><key>TopicArn</key><value>`+testTopicARN+`</value></entry>`+
			`<entry><key>KmsMasterKeyId</key><value>alias/orders</value></entry>`+
			`<entry><key>Policy</key><value>`+xmlEscape(policy)+`</value></entry>`+
			`</Attributes>`)
	})
	a, _ := e.Account(context.Background(), "")
	got, err := a.GetTopic(context.Background(), testTopicARN)
	if err != nil {
		t.Fatal(err)
	}
	want := rules.Topic{ARN: testTopicARN, KMSMasterKeyID: "alias/orders", Policy: []byte(policy)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if f := r.Calls()[0].Form; f.Get("Action") != "GetTopicAttributes" || f.Get("TopicArn") != testTopicARN {
		t.Fatalf("request %v", f)
	}
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

func TestGetTopicUnencryptedNotFound(t *testing.T) {
	e, _ := newTestEdge(t, Options{}, func(c call) *http.Response {
		if c.Form.Get("TopicArn") == testTopicARN {
			return queryOK("GetTopicAttributes", snsNS, `<Attributes><entry><key>TopicArn</key><value>`+testTopicARN+`</value></entry></Attributes>`)
		}
		return queryErr(404, "NotFound", "Topic does not exist")
	})
	a, _ := e.Account(context.Background(), "")
	got, err := a.GetTopic(context.Background(), testTopicARN)
	if err != nil || !reflect.DeepEqual(got, rules.Topic{ARN: testTopicARN}) {
		t.Fatalf("%+v %v", got, err)
	}
	_, err = a.GetTopic(context.Background(), testTopicARN+"-gone")
	if Classify(err) != NotFound {
		t.Fatalf("err %v class %v", err, Classify(err))
	}
}

func TestListTopicsAllPages(t *testing.T) {
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response {
		switch c.Form.Get("NextToken") {
		case "":
			return queryOK("ListTopics", snsNS, `<Topics><member><TopicArn>arn:aws:sns:us-east-1:111122223333:a</TopicArn></member>`+
				`<member><TopicArn>arn:aws:sns:us-east-1:111122223333:b</TopicArn></member></Topics><NextToken>page2</NextToken>`)
		case "page2":
			return queryOK("ListTopics", snsNS, `<Topics><member><TopicArn>arn:aws:sns:us-east-1:111122223333:c</TopicArn></member></Topics>`)
		}
		t.Fatalf("unexpected token %q", c.Form.Get("NextToken"))
		return nil
	})
	a, _ := e.Account(context.Background(), "")
	got, err := a.ListTopics(context.Background())
	want := []string{"arn:aws:sns:us-east-1:111122223333:a", "arn:aws:sns:us-east-1:111122223333:b", "arn:aws:sns:us-east-1:111122223333:c"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("%v %v", got, err)
	}
	if c := e.Calls(); !reflect.DeepEqual(c, map[string]int{"SNS.ListTopics": 2}) || len(r.Calls()) != 2 {
		t.Fatalf("calls %v", c)
	}
}

func TestTopicTagsSetTopicKeyPublish(t *testing.T) {
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response {
		switch c.Op {
		case "ListTagsForResource":
			return queryOK(c.Op, snsNS, `<Tags><member><Key>guard-exempt</Key><Value>yes</Value></member><member><Key>team</Key><Value>pay</Value></member></Tags>`)
		case "SetTopicAttributes":
			return queryOK(c.Op, snsNS, ``)
		case "Publish":
			return queryOK(c.Op, snsNS, `<MessageId>m-1</MessageId>`)
		}
		return queryErr(400, "InvalidAction", c.Op)
	})
	ctx := context.Background()
	a, _ := e.Account(ctx, "")
	tags, err := a.TopicTags(ctx, testTopicARN)
	if err != nil || !reflect.DeepEqual(tags, map[string]string{"guard-exempt": "yes", "team": "pay"}) {
		t.Fatalf("%v %v", tags, err)
	}
	if err := a.SetTopicKey(ctx, testTopicARN, testKeyARN); err != nil {
		t.Fatal(err)
	}
	err = a.Publish(ctx, testTopicARN, "SNS key guard: GRANT_MISSING on orders\nsecond line é", `{"kind":"finding"}`,
		map[string]string{"code": "GRANT_MISSING", "empty": ""})
	if err != nil {
		t.Fatal(err)
	}
	calls := r.Calls()
	set := calls[1].Form
	if set.Get("TopicArn") != testTopicARN || set.Get("AttributeName") != "KmsMasterKeyId" || set.Get("AttributeValue") != testKeyARN {
		t.Fatalf("SetTopicAttributes %v", set)
	}
	pub := calls[2].Form
	wantPub := map[string]string{
		"Action": "Publish", "Version": "2010-03-31", "TopicArn": testTopicARN, "Message": `{"kind":"finding"}`,
		"Subject":                                     "SNS key guard: GRANT_MISSING on orders second line ?",
		"MessageAttributes.entry.1.Name":              "code",
		"MessageAttributes.entry.1.Value.DataType":    "String",
		"MessageAttributes.entry.1.Value.StringValue": "GRANT_MISSING",
	}
	gotPub := map[string]string{}
	for k := range pub {
		gotPub[k] = pub.Get(k)
	}
	if !reflect.DeepEqual(gotPub, wantPub) {
		t.Fatalf("Publish form\n got %v\nwant %v", gotPub, wantPub)
	}
}

func TestSubject(t *testing.T) {
	cases := map[string]string{
		"plain":                  "plain",
		"  tabs\tand\nlines  ":   "tabs and lines",
		"naïve ✓":                "na?ve ?",
		strings.Repeat("a", 150): strings.Repeat("a", 100),
		"":                       "",
	}
	for in, want := range cases {
		if got := Subject(in); got != want {
			t.Errorf("Subject(%q) = %q, want %q", in, got, want)
		}
	}
}

// Enqueue is SQS SendMessage (the JSON protocol) with the queue URL, the
// body and String attributes, empty ones dropped; an SQS error is returned
// classified.
func TestEnqueue(t *testing.T) {
	const queue = "https://sqs.us-east-1.amazonaws.com/111122223333/dead-letters"
	var got call
	e, _ := newTestEdge(t, Options{MaxAttempts: 1}, func(c call) *http.Response {
		got = c
		if strings.Contains(string(c.Body), "throttle-me") {
			return jsonErr(400, "com.amazonaws.sqs#RequestThrottled", "slow down")
		}
		return jsonOK(map[string]string{"MessageId": "m-1"})
	})
	a, _ := e.Account(context.Background(), "")
	if err := a.Enqueue(context.Background(), queue, `{"record":"announcement"}`, map[string]string{"snskeyguard": "announcement", "kind": ""}); err != nil {
		t.Fatal(err)
	}
	body := got.JSON(t)
	attrs, _ := body["MessageAttributes"].(map[string]any)
	if got.Target != "AmazonSQS.SendMessage" || body["QueueUrl"] != queue || body["MessageBody"] != `{"record":"announcement"}` ||
		len(attrs) != 1 || !reflect.DeepEqual(attrs["snskeyguard"], map[string]any{"DataType": "String", "StringValue": "announcement"}) {
		t.Fatalf("request %s %s", got.Target, got.Body)
	}
	if c := e.Calls(); c["SQS.SendMessage"] != 1 {
		t.Fatalf("calls %v", c)
	}
	err := a.Enqueue(context.Background(), queue, "throttle-me", nil)
	if err == nil || !strings.Contains(err.Error(), queue) || Classify(err) != Retryable {
		t.Fatalf("throttled send: %v (class %v)", err, Classify(err))
	}
}
