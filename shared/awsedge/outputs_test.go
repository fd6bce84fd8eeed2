package awsedge

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/snskeyguard/snskeyguard/shared/configrule"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPutEvaluationsBatchesAndTestMode(t *testing.T) {
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response {
		if c.Target != "StarlingDoveService.PutEvaluations" {
			t.Fatalf("target %s", c.Target)
		}
		return jsonOK(map[string]any{"FailedEvaluations": []any{}})
	})
	a, _ := e.Account(context.Background(), "")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var evals []configrule.Evaluation
	for i := range 250 {
		evals = append(evals, configrule.Evaluation{ResourceType: "AWS::SNS::Topic", ResourceID: fmt.Sprintf("arn:aws:sns:us-east-1:111122223333:t%d", i),
			Compliance: "NON_COMPLIANT", Annotation: strings.Repeat("é", 300), OrderingTimestamp: at})
	}
	if err := a.PutEvaluations(context.Background(), TestModeToken, evals); err != nil || len(r.Calls()) != 0 {
		t.Fatalf("TESTMODE sent %d calls (%v)", len(r.Calls()), err)
	}
	if err := a.PutEvaluations(context.Background(), "token-1", evals); err != nil {
		t.Fatal(err)
	}
	calls := r.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3", len(calls))
	}
	var sizes []int
	for _, c := range calls {
		var in struct {
			ResultToken string
			Evaluations []struct {
				ComplianceResourceType, ComplianceResourceId, ComplianceType, Annotation string
				OrderingTimestamp                                                        float64
			}
		}
		if err := json.Unmarshal(c.Body, &in); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(in.Evaluations))
		first := in.Evaluations[0]
		if in.ResultToken != "token-1" || first.ComplianceType != "NON_COMPLIANT" || first.ComplianceResourceType != "AWS::SNS::Topic" ||
			len([]rune(first.Annotation)) != 256 || !strings.HasSuffix(first.Annotation, "…") || first.OrderingTimestamp != float64(at.Unix()) {
			t.Fatalf("evaluation %+v token %s", first, in.ResultToken)
		}
	}
	if !reflect.DeepEqual(sizes, []int{100, 100, 50}) {
		t.Fatalf("batch sizes %v", sizes)
	}
}

func TestPutEvaluationsReportsFailed(t *testing.T) {
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response {
		return jsonOK(map[string]any{"FailedEvaluations": []any{map[string]any{"ComplianceResourceId": "arn:x", "ComplianceResourceType": "AWS::SNS::Topic", "ComplianceType": "COMPLIANT", "OrderingTimestamp": 1}}})
	})
	a, _ := e.Account(context.Background(), "")
	ok := configrule.Evaluation{ResourceType: "AWS::SNS::Topic", ResourceID: "arn:x", Compliance: "COMPLIANT", OrderingTimestamp: time.Unix(1, 0)}
	err := a.PutEvaluations(context.Background(), "tok", []configrule.Evaluation{ok})
	if err == nil || !strings.Contains(err.Error(), "1 of 1 failed (first arn:x)") {
		t.Fatalf("err %v", err)
	}
	// An evaluation Config would refuse fails before any call.
	bad := ok
	bad.Compliance = "MAYBE"
	err = a.PutEvaluations(context.Background(), "tok", []configrule.Evaluation{bad})
	if err == nil || !strings.Contains(err.Error(), `compliance "MAYBE"`) || len(r.Calls()) != 1 {
		t.Fatalf("err %v, %d calls", err, len(r.Calls()))
	}
}

func TestSelectResourcesAllPages(t *testing.T) {
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response {
		if c.JSON(t)["NextToken"] == nil {
			return jsonOK(map[string]any{"Results": []string{`{"resourceId":"a"}`}, "NextToken": "2"})
		}
		return jsonOK(map[string]any{"Results": []string{`{"resourceId":"b"}`}})
	})
	a, _ := e.Account(context.Background(), "")
	const q = "SELECT resourceId WHERE resourceType = 'AWS::SNS::Topic'"
	rows, err := a.SelectResources(context.Background(), q)
	if err != nil || len(rows) != 2 || string(rows[0]) != `{"resourceId":"a"}` || string(rows[1]) != `{"resourceId":"b"}` {
		t.Fatalf("%s %v", rows, err)
	}
	if b := r.Calls()[0].JSON(t); b["Expression"] != q || r.Calls()[0].Target != "StarlingDoveService.SelectResourceConfig" {
		t.Fatalf("request %v", b)
	}
}

func TestImportFindingsASFF(t *testing.T) {
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response {
		return restJSONOK(map[string]any{"FailedCount": 0, "SuccessCount": 2, "FailedFindings": []any{}})
	})
	e.now = func() time.Time { return time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC) }
	a, _ := e.Account(context.Background(), "")
	err := a.ImportFindings(context.Background(), []Finding{
		{ID: FindingID(testTopicARN, "GRANT_MISSING", "cloudwatch.amazonaws.com"), TopicARN: testTopicARN, KeyARN: testKeyARN,
			Code: "GRANT_MISSING", Principal: "cloudwatch.amazonaws.com", Title: "CloudWatch cannot publish to orders",
			Description: "CloudWatch alarms publishing to this topic fail with KMSAccessDeniedException", Severity: "high"},
		{TopicARN: testTopicARN, Code: "TOPIC_UNENCRYPTED", Title: "orders is not encrypted", Resolved: true, Severity: "bogus"},
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := r.Calls()
	if len(calls) != 1 || calls[0].Path != "/findings/import" {
		t.Fatalf("calls %v", r.Ops())
	}
	var got any
	if err := json.Unmarshal(calls[0].Body, &got); err != nil {
		t.Fatal(err)
	}
	const ts = "2026-05-06T07:08:09Z"
	product := "arn:aws:securityhub:us-east-1:111122223333:product/111122223333/default"
	topicRes := map[string]any{"Type": "AwsSnsTopic", "Id": testTopicARN, "Partition": "aws", "Region": "us-east-1"}
	wantJSON := map[string]any{"Findings": []any{
		map[string]any{
			"SchemaVersion": "2018-10-08", "Id": testTopicARN + "/GRANT_MISSING/cloudwatch.amazonaws.com", "ProductArn": product,
			"GeneratorId": "snskeyguard/GRANT_MISSING", "AwsAccountId": "111122223333",
			"Types":     []any{"Software and Configuration Checks/AWS Security Best Practices"},
			"CreatedAt": ts, "UpdatedAt": ts, "Severity": map[string]any{"Label": "HIGH"},
			"Title":       "CloudWatch cannot publish to orders",
			"Description": "CloudWatch alarms publishing to this topic fail with KMSAccessDeniedException",
			"Resources": []any{topicRes,
				map[string]any{"Type": "AwsKmsKey", "Id": testKeyARN, "Partition": "aws", "Region": "us-east-1"}},
			"Compliance": map[string]any{"Status": "FAILED"}, "Workflow": map[string]any{"Status": "NEW"}, "RecordState": "ACTIVE",
			"ProductFields": map[string]any{"snskeyguard/code": "GRANT_MISSING", "snskeyguard/principal": "cloudwatch.amazonaws.com"},
		},
		map[string]any{
			"SchemaVersion": "2018-10-08", "Id": testTopicARN + "/TOPIC_UNENCRYPTED", "ProductArn": product,
			"GeneratorId": "snskeyguard/TOPIC_UNENCRYPTED", "AwsAccountId": "111122223333",
			"Types":     []any{"Software and Configuration Checks/AWS Security Best Practices"},
			"CreatedAt": ts, "UpdatedAt": ts, "Severity": map[string]any{"Label": "MEDIUM"},
			"Title": "orders is not encrypted", "Description": "orders is not encrypted",
			"Resources":  []any{topicRes},
			"Compliance": map[string]any{"Status": "PASSED"}, "Workflow": map[string]any{"Status": "RESOLVED"}, "RecordState": "ARCHIVED",
			"ProductFields": map[string]any{"snskeyguard/code": "TOPIC_UNENCRYPTED"},
		},
	}}
	if !reflect.DeepEqual(got, wantJSON) {
		g, _ := json.MarshalIndent(got, "", " ")
		t.Fatalf("ASFF request:\n%s", g)
	}
}

func TestImportFindingsFailedCount(t *testing.T) {
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response {
		return restJSONOK(map[string]any{"FailedCount": 1, "SuccessCount": 0,
			"FailedFindings": []any{map[string]any{"Id": "x", "ErrorCode": "InvalidInput", "ErrorMessage": "bad"}}})
	})
	a, _ := e.Account(context.Background(), "")
	err := a.ImportFindings(context.Background(), []Finding{{ID: "x", TopicARN: testTopicARN, Code: "GRANT_MISSING"}})
	if err == nil || !strings.Contains(err.Error(), "1 of 1 failed (InvalidInput: bad)") {
		t.Fatalf("err %v (ops %v)", err, r.Ops())
	}
}

// ASFFJSON is ImportFindings' conversion as a document: the unset SDK members
// left out, each finding in its topic's region when no region is given.
func TestASFFJSON(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	raw, err := ASFFJSON([]Finding{
		{TopicARN: "arn:aws:sns:eu-west-1:111122223333:t", KeyARN: "arn:aws:kms:eu-west-1:111122223333:key/k", Code: "GRANT_MISSING",
			Principal: "cloudwatch.amazonaws.com", Title: "title", Description: "desc", Severity: "HIGH"},
		{TopicARN: "arn:aws:sns:us-east-1:111122223333:u", Code: "TOPIC_UNENCRYPTED", Severity: "MEDIUM", Resolved: true},
	}, "", "999999999999", now)
	if err != nil {
		t.Fatal(err)
	}
	var fs []map[string]any
	if err := json.Unmarshal(raw, &fs); err != nil || len(fs) != 2 {
		t.Fatalf("%v\n%s", err, raw)
	}
	if fs[0]["Id"] != "arn:aws:sns:eu-west-1:111122223333:t/GRANT_MISSING/cloudwatch.amazonaws.com" ||
		fs[0]["ProductArn"] != "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default" ||
		fs[0]["CreatedAt"] != "2026-01-02T03:04:05Z" || fs[0]["RecordState"] != "ACTIVE" ||
		fs[1]["ProductArn"] != "arn:aws:securityhub:us-east-1:111122223333:product/111122223333/default" ||
		fs[1]["Workflow"].(map[string]any)["Status"] != "RESOLVED" || fs[1]["Title"] != "TOPIC_UNENCRYPTED" {
		t.Errorf("findings:\n%s", raw)
	}
	if strings.Contains(string(raw), "null") || strings.Contains(string(raw), `""`) || strings.Contains(string(raw), "[]") {
		t.Errorf("unset members kept:\n%s", raw)
	}
	if out, _ := ASFFJSON(nil, "", "1", now); string(out) != "[]" {
		t.Errorf("no findings: %s", out)
	}
}
