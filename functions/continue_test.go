package functions_test

// A Config sweep that outruns its function's time continues in another
// asynchronous invocation of its own function, run end to end: the
// config-rule binary under aws-lambda-rie with a short timeout, the
// scheduled event queued in the emulated Lambda service as AWS Config hands
// it over, each continuation sent by the function itself through the IAM
// proxy (lambda:InvokeFunction on its own ARN, from template.yaml) to
// Lambda's Invoke API with X-Amz-Invocation-Type Event.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
	"github.com/snskeyguard/snskeyguard/shared/awsedge"
	"github.com/snskeyguard/snskeyguard/shared/guard"
)

// continueTimeout is the config-rule function's timeout here (seconds,
// aws-lambda-rie's AWS_LAMBDA_FUNCTION_TIMEOUT): shorter than the time a
// sweep keeps in hand before its deadline, so every invocation judges one
// Config page and hands the rest over.
const continueTimeout = "10"

// continueTopics creates bulk compliant topics beside the demo's and makes
// the Config fake record every topic of the account, each with the key and
// access policy SNS holds; it returns the recorded ARNs, sorted.
func continueTopics(t *testing.T, r *e2eRig, bulk int) []string {
	t.Helper()
	ctx := t.Context()
	// The demo's client never retries; kumo now and then drops a kept-alive
	// connection, which the SDK's standard retryer absorbs.
	client := sns.New(r.demo.SNS.Options(), func(o *sns.Options) { o.Retryer = retry.NewStandard() })
	for i := range bulk {
		if _, err := client.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(fmt.Sprintf("bulk-%03d", i)),
			Attributes: map[string]string{"KmsMasterKeyId": "alias/orders-key"}}); err != nil {
			t.Fatal(err)
		}
	}
	var arns []string
	p := sns.NewListTopicsPaginator(client, &sns.ListTopicsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tp := range page.Topics {
			arns = append(arns, aws.ToString(tp.TopicArn))
		}
	}
	sort.Strings(arns)
	recorded := make([]emulator.ConfigTopic, 0, len(arns))
	for _, arn := range arns {
		a, err := client.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		recorded = append(recorded, emulator.ConfigTopic{ARN: arn, KmsMasterKeyID: a.Attributes["KmsMasterKeyId"],
			Policy: a.Attributes["Policy"], Tags: map[string]string{}})
	}
	r.stack.Config.SetTopics(recorded...)
	return arns
}

// continuedSweep is what a sweep left behind once Lambda's queue drained.
type continuedSweep struct {
	token      string // the scheduled event's ResultToken
	deliveries []emulator.Delivery
	reports    []e2eContinued
}

type e2eContinued struct {
	Continued *struct {
		Topics      int `json:"topics"`
		Invocations int `json:"invocations"`
	} `json:"continued"`
	Evaluations []struct {
		ResourceID string `json:"resourceId"`
	} `json:"evaluations"`
}

// runContinuedSweep queues the scheduled event for the config-rule function
// (timeout continueTimeout) and waits until no invocation is queued or
// running.
func runContinuedSweep(t *testing.T, r *e2eRig) continuedSweep {
	t.Helper()
	r.function("config-rule")
	raw, err := os.ReadFile("../events/config-rule-scheduled.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		ResultToken string `json:"resultToken"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil || ev.ResultToken == "" {
		t.Fatalf("config-rule-scheduled.json: no resultToken (%v)", err)
	}
	if _, err := r.stack.Lambda.Enqueue(emulator.StackName+"-config-rule", raw); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := r.stack.Lambda.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	iamFail(t, "config-rule's continued sweep", r.stack.IAM.TakeDenials())
	s := continuedSweep{token: ev.ResultToken, deliveries: r.stack.Lambda.Deliveries()}
	for _, d := range s.deliveries {
		var rep e2eContinued
		if d.Err == nil {
			if err := json.Unmarshal(d.Response, &rep); err != nil {
				t.Fatalf("report of %s attempt %d: %v\n%s", d.RequestID, d.Attempt, err, d.Response)
			}
		}
		s.reports = append(s.reports, rep)
	}
	return s
}

// checkWritten checks the Config fake's PutEvaluations records: every call
// accepted and carrying the original ResultToken, every recorded topic
// written exactly once (twice, with one verdict, for the ARNs in again) and
// nothing else; it returns how many calls there were.
func (s continuedSweep) checkWritten(t *testing.T, r *e2eRig, arns []string, again map[string]bool) int {
	t.Helper()
	calls := r.stack.Config.Calls()
	seen := map[string]int{}
	verdict := map[string][]string{}
	for i, c := range calls {
		if c.ResultToken != s.token {
			t.Errorf("PutEvaluations call %d: ResultToken %q, want the scheduled event's %q", i, c.ResultToken, s.token)
		}
		if c.Error != "" || c.TestMode {
			t.Errorf("PutEvaluations call %d: error %q test mode %v", i, c.Error, c.TestMode)
		}
		for _, e := range c.Evaluations {
			seen[e.ComplianceResourceID]++
			verdict[e.ComplianceResourceID] = append(verdict[e.ComplianceResourceID], e.ComplianceType)
		}
	}
	for _, arn := range arns {
		want := 1
		if again[arn] {
			want = 2
		}
		if seen[arn] != want {
			t.Errorf("%s written %d times, want %d", arn, seen[arn], want)
		}
		if v := verdict[arn]; len(slices.Compact(slices.Clone(v))) > 1 {
			t.Errorf("%s written again with another verdict: %v", arn, v)
		}
		delete(seen, arn)
	}
	for id := range seen {
		t.Errorf("%s written but not recorded by Config", id)
	}
	return len(calls)
}

// checkChain checks the successful invocations: the first without a cursor,
// each next one with the cursor the one before handed over (same
// ResultToken, invocation count one up, topics so far), the last ending the
// sweep; it returns how many there were.
func (s continuedSweep) checkChain(t *testing.T, total int) int {
	t.Helper()
	var ok []int
	for i, d := range s.deliveries {
		if d.Err == nil {
			ok = append(ok, i)
		}
	}
	done := 0
	for n, i := range ok {
		d, rep := s.deliveries[i], s.reports[i]
		var ev map[string]json.RawMessage
		if err := json.Unmarshal(d.Payload, &ev); err != nil {
			t.Fatalf("payload %d: %v", n, err)
		}
		var token string
		_ = json.Unmarshal(ev["resultToken"], &token)
		if token != s.token {
			t.Errorf("invocation %d: event resultToken %q, want %q", n+1, token, s.token)
		}
		var cur *guard.SweepCursor
		if c, has := ev[guard.CursorField]; has {
			cur = &guard.SweepCursor{}
			if err := json.Unmarshal(c, cur); err != nil {
				t.Fatalf("invocation %d: cursor %s: %v", n+1, c, err)
			}
		}
		switch {
		case n == 0 && cur != nil:
			t.Errorf("the first invocation has a cursor %+v", cur)
		case n > 0 && (cur == nil || cur.Invocations != n || cur.Topics != done || cur.Token == ""):
			t.Errorf("invocation %d: cursor %+v, want invocations %d, topics %d", n+1, cur, n, done)
		}
		done += len(rep.Evaluations)
		last := n == len(ok)-1
		switch {
		case last && rep.Continued != nil:
			t.Errorf("the last invocation (%d) continues: %+v", n+1, rep.Continued)
		case !last && (rep.Continued == nil || rep.Continued.Invocations != n+1 || rep.Continued.Topics != done):
			t.Errorf("invocation %d: continued %+v, want invocations %d, topics %d", n+1, rep.Continued, n+1, done)
		}
		if len(rep.Evaluations) > awsedge.RecordedTopicsPageSize {
			t.Errorf("invocation %d judged %d topics: more than one page", n+1, len(rep.Evaluations))
		}
	}
	if done != total {
		t.Errorf("the invocations reported %d topics, want %d", done, total)
	}
	return len(ok)
}

// TestSweepContinuesAcrossInvocations: 256 topics recorded by Config (3
// pages), a 10-second function: the sweep runs as 3 asynchronous invocations
// chained by the function itself, every topic evaluated exactly once with
// the original ResultToken, the last invocation ending the sweep, and every
// Invoke allowed by the function's role.
func TestSweepContinuesAcrossInvocations(t *testing.T) {
	r := newRig(t, "alert", map[string]string{"AWS_LAMBDA_FUNCTION_TIMEOUT": continueTimeout})
	arns := continueTopics(t, r, 250)
	s := runContinuedSweep(t, r)
	for _, d := range s.deliveries {
		if d.Err != nil || d.Attempt != 1 {
			t.Errorf("delivery %s attempt %d: %v", d.RequestID, d.Attempt, d.Err)
		}
	}
	n := s.checkChain(t, len(arns))
	if want := (len(arns) + awsedge.RecordedTopicsPageSize - 1) / awsedge.RecordedTopicsPageSize; n != want || n < 3 {
		t.Errorf("%d invocations, want %d (one per Config page)", n, want)
	}
	calls := s.checkWritten(t, r, arns, nil)
	if got := r.stack.IAM.Actions()["lambda:InvokeFunction"]; got != n-1 {
		t.Errorf("%d lambda:InvokeFunction calls checked, want %d (one per continuation)", got, n-1)
	}
	if d := r.stack.Lambda.Discarded(); len(d) != 0 {
		t.Errorf("discarded events %+v", d)
	}
	t.Logf("%d topics, %d invocations, %d PutEvaluations calls", len(arns), n, calls)
}

// TestSweepContinuationThrottledOnce: Lambda answers the first continuation
// TooManyRequestsException, then ServiceException; the function retries the
// Invoke and the sweep goes on: no topic lost, none written twice.
func TestSweepContinuationThrottledOnce(t *testing.T) {
	r := newRig(t, "alert", map[string]string{"AWS_LAMBDA_FUNCTION_TIMEOUT": continueTimeout})
	arns := continueTopics(t, r, 250)
	r.stack.Lambda.FailInvokes("TooManyRequestsException", "ServiceException")
	s := runContinuedSweep(t, r)
	for _, d := range s.deliveries {
		if d.Err != nil || d.Attempt != 1 {
			t.Errorf("delivery %s attempt %d: %v", d.RequestID, d.Attempt, d.Err)
		}
	}
	n := s.checkChain(t, len(arns))
	s.checkWritten(t, r, arns, nil)
	if got := r.stack.IAM.Actions()["lambda:InvokeFunction"]; got != n-1+2 {
		t.Errorf("%d lambda:InvokeFunction calls, want %d (the continuations and the two refused ones): the faults were not met", got, n+1)
	}
}

// TestSweepContinuationFailsForGood: Lambda refuses the first continuation
// three times running, as many as the function tries. The invocation fails,
// and Lambda runs its event again (an asynchronous invocation's function
// error is retried): no topic is lost, and the first page, already written
// when the hand-over failed, is written a second time with the same verdict
// under the same ResultToken. At least once, not exactly once: the function
// keeps no state between invocations but its event.
func TestSweepContinuationFailsForGood(t *testing.T) {
	r := newRig(t, "alert", map[string]string{"AWS_LAMBDA_FUNCTION_TIMEOUT": continueTimeout})
	arns := continueTopics(t, r, 250)
	r.stack.Lambda.RetryDelays = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}
	r.stack.Lambda.FailInvokes("ServiceException", "ServiceException", "ServiceException")
	s := runContinuedSweep(t, r)
	if len(s.deliveries) < 2 || s.deliveries[0].Err == nil || s.deliveries[1].Attempt != 2 || s.deliveries[1].Err != nil {
		t.Fatalf("deliveries %+v: want the first event failed, then run again", s.deliveries)
	}
	again := map[string]bool{}
	for _, e := range s.reports[1].Evaluations {
		again[e.ResourceID] = true
	}
	if len(again) != awsedge.RecordedTopicsPageSize {
		t.Errorf("the retried first invocation judged %d topics, want one page", len(again))
	}
	s.checkChain(t, len(arns))
	s.checkWritten(t, r, arns, again)
}
