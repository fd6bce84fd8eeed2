package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cstypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/smithy-go"
)

// envConfig loads the SDK config the way a function does, from the
// environment Stack.Env produces, to prove the endpoint variable names.
func envConfig(t *testing.T, env map[string]string) aws.Config {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func evals(n int, annotation string) []cstypes.Evaluation {
	out := make([]cstypes.Evaluation, n)
	for i := range out {
		out[i] = cstypes.Evaluation{
			ComplianceResourceType: aws.String("AWS::SNS::Topic"),
			ComplianceResourceId:   aws.String(fmt.Sprintf("arn:aws:sns:us-east-1:111122223333:t%d", i)),
			ComplianceType:         cstypes.ComplianceTypeNonCompliant,
			OrderingTimestamp:      aws.Time(time.Unix(1700000000, 0)),
			Annotation:             aws.String(annotation),
		}
	}
	return out
}

func TestFakeConfig(t *testing.T) {
	s := &Stack{Config: NewFakeConfigForTest(t)}
	c := configservice.NewFromConfig(envConfig(t, s.Env()))
	ctx := t.Context()

	if _, err := c.PutEvaluations(ctx, &configservice.PutEvaluationsInput{ResultToken: aws.String("tok"),
		Evaluations: evals(100, strings.Repeat("a", 256))}); err != nil {
		t.Fatalf("100 evaluations with a 256-char annotation: %v", err)
	}
	for name, in := range map[string]*configservice.PutEvaluationsInput{
		"101 evaluations":     {ResultToken: aws.String("tok"), Evaluations: evals(101, "x")},
		"257-char annotation": {ResultToken: aws.String("tok"), Evaluations: evals(1, strings.Repeat("a", 257))},
		"empty annotation":    {ResultToken: aws.String("tok"), Evaluations: evals(1, "")},
	} {
		_, err := c.PutEvaluations(ctx, in)
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" {
			t.Errorf("%s: err = %v, want ValidationException", name, err)
		}
	}
	if _, err := c.PutEvaluations(ctx, &configservice.PutEvaluationsInput{ResultToken: aws.String("TESTMODE"),
		TestMode: true, Evaluations: evals(1, "t")}); err != nil {
		t.Fatal(err)
	}
	calls := s.Config.Calls()
	var got []string
	for _, c := range calls {
		got = append(got, fmt.Sprintf("%d/%s/%v", len(c.Evaluations), c.Error, c.TestMode))
	}
	slices.Sort(got)
	if want := []string{"1//true", "1/ValidationException/false", "1/ValidationException/false", "100//false", "101/ValidationException/false"}; !slices.Equal(got, want) {
		t.Errorf("recorded calls = %v, want %v", got, want)
	}
	ev := s.Config.Evaluations()
	if len(ev) != 100 || ev[7].ComplianceResourceID != "arn:aws:sns:us-east-1:111122223333:t7" ||
		ev[7].ComplianceType != "NON_COMPLIANT" || ev[7].OrderingTimestamp != 1700000000 || len(*ev[7].Annotation) != 256 {
		t.Errorf("stored evaluations: %d, [7] = %+v", len(ev), ev[7])
	}

	// SelectResourceConfig pages through the settable rows.
	var rows []string
	for i := range 250 {
		rows = append(rows, fmt.Sprintf(`{"arn":"arn:aws:sns:us-east-1:111122223333:t%d"}`, i))
	}
	s.Config.SetResources(rows...)
	p := configservice.NewSelectResourceConfigPaginator(c, &configservice.SelectResourceConfigInput{
		Expression: aws.String("SELECT arn WHERE resourceType = 'AWS::SNS::Topic'")})
	var seen []string
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		seen = append(seen, out.Results...)
	}
	if pages != 3 || !slices.Equal(seen, rows) {
		t.Errorf("SelectResourceConfig: %d pages, %d rows; want 3 pages, the 250 rows in order", pages, len(seen))
	}
	if q := s.Config.Queries(); len(q) != 3 || q[0] != "SELECT arn WHERE resourceType = 'AWS::SNS::Topic'" {
		t.Errorf("queries = %v", q)
	}

	// GetResourceConfigHistory answers the set items, and AWS's error otherwise.
	capture := time.Unix(1700000123, 0).UTC()
	s.Config.SetHistory(ConfigItem{ResourceType: "AWS::SNS::Topic", ResourceID: "arn:aws:sns:us-east-1:111122223333:orders",
		ResourceName: "orders", ARN: "arn:aws:sns:us-east-1:111122223333:orders", Status: "OK",
		Configuration: `{"TopicArn":"arn:aws:sns:us-east-1:111122223333:orders","KmsMasterKeyId":"alias/orders"}`,
		Tags:          map[string]string{"team": "a"}, CaptureTime: capture})
	h, err := c.GetResourceConfigHistory(ctx, &configservice.GetResourceConfigHistoryInput{
		ResourceType: cstypes.ResourceTypeTopic, ResourceId: aws.String("arn:aws:sns:us-east-1:111122223333:orders"), Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.ConfigurationItems) != 1 {
		t.Fatalf("history = %+v", h.ConfigurationItems)
	}
	it := h.ConfigurationItems[0]
	if aws.ToString(it.Configuration) != `{"TopicArn":"arn:aws:sns:us-east-1:111122223333:orders","KmsMasterKeyId":"alias/orders"}` ||
		it.ConfigurationItemStatus != cstypes.ConfigurationItemStatusOk || !aws.ToTime(it.ConfigurationItemCaptureTime).Equal(capture) ||
		aws.ToString(it.AccountId) != "111122223333" || it.Tags["team"] != "a" || aws.ToString(it.ResourceName) != "orders" {
		t.Errorf("history item = %+v", it)
	}
	_, err = c.GetResourceConfigHistory(ctx, &configservice.GetResourceConfigHistoryInput{
		ResourceType: cstypes.ResourceTypeTopic, ResourceId: aws.String("arn:aws:sns:us-east-1:111122223333:none")})
	var nd *cstypes.ResourceNotDiscoveredException
	if !errors.As(err, &nd) {
		t.Errorf("history of unknown resource: err = %v, want ResourceNotDiscoveredException", err)
	}
	if n := s.Config.HistoryRequests(); n != 2 {
		t.Errorf("HistoryRequests = %d, want 2", n)
	}
}

func finding(id, title string) shtypes.AwsSecurityFinding {
	now := "2026-01-01T00:00:00Z"
	return shtypes.AwsSecurityFinding{
		AwsAccountId: aws.String("111122223333"), CreatedAt: aws.String(now), UpdatedAt: aws.String(now),
		Description: aws.String("d"), GeneratorId: aws.String("snskeyguard"), Id: aws.String(id),
		ProductArn:    aws.String("arn:aws:securityhub:us-east-1:111122223333:product/111122223333/default"),
		Resources:     []shtypes.Resource{{Id: aws.String("arn:aws:sns:us-east-1:111122223333:orders"), Type: aws.String("AwsSnsTopic")}},
		SchemaVersion: aws.String("2018-10-08"), Title: aws.String(title),
	}
}

func TestFakeSecurityHub(t *testing.T) {
	s := &Stack{SecurityHub: NewFakeSecurityHubForTest(t)}
	c := securityhub.NewFromConfig(envConfig(t, s.Env()))
	ctx := t.Context()

	out, err := c.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{
		Findings: []shtypes.AwsSecurityFinding{finding("a", "first"), finding("b", "b")}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.SuccessCount) != 2 || aws.ToInt32(out.FailedCount) != 0 || len(out.FailedFindings) != 0 {
		t.Errorf("BatchImportFindings = %+v", out)
	}
	// The SDK refuses to send a finding without a required field; a raw
	// request shows the fake fails that finding alone, as AWS does.
	resp, err := http.Post(s.SecurityHub.URL+"/findings/import", "application/json",
		strings.NewReader(`{"Findings":[{"Id":"bad","AwsAccountId":"111122223333"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"FailedCount":1,"FailedFindings":[{"Id":"bad","ErrorCode":"InvalidInput"`) ||
		!strings.Contains(string(body), "Title") {
		t.Errorf("raw import of a bad finding = %s", body)
	}
	// Re-importing an id updates the finding.
	if _, err := c.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{
		Findings: []shtypes.AwsSecurityFinding{finding("a", "second")}}); err != nil {
		t.Fatal(err)
	}
	if ids := s.SecurityHub.FindingIDs(); !slices.Equal(ids, []string{"a", "b"}) {
		t.Errorf("FindingIDs = %v", ids)
	}
	var a struct{ Title string }
	_ = json.Unmarshal(s.SecurityHub.Findings()["a"], &a)
	if a.Title != "second" {
		t.Errorf("finding a title = %q, want second", a.Title)
	}
	if n := len(s.SecurityHub.Imports()); n != 3 {
		t.Errorf("imports = %d, want 3", n)
	}
	many := make([]shtypes.AwsSecurityFinding, 101)
	for i := range many {
		many[i] = finding(fmt.Sprint(i), "t")
	}
	_, err = c.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: many})
	var inv *shtypes.InvalidInputException
	if !errors.As(err, &inv) {
		t.Errorf("101 findings: err = %v, want InvalidInputException", err)
	}
}

func TestStackEnv(t *testing.T) {
	s := &Stack{Kumo: &Kumo{URL: "http://127.0.0.1:1"}, KMS: &LocalKMS{URL: "http://127.0.0.1:2"},
		Config: &FakeConfig{URL: "http://127.0.0.1:3"}, SecurityHub: &FakeSecurityHub{URL: "http://127.0.0.1:4"}}
	want := map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
		"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_KMS": "http://127.0.0.1:2",
		"AWS_ENDPOINT_URL_CONFIG_SERVICE": "http://127.0.0.1:3", "AWS_ENDPOINT_URL_SECURITYHUB": "http://127.0.0.1:4",
	}
	if got := s.Env(); mustJSON(got) != mustJSON(want) {
		t.Errorf("Env() = %v\nwant %v", got, want)
	}
	if got := With(s.Env(), map[string]string{"MODE": "remediate"}); got["MODE"] != "remediate" || len(got) != len(want)+1 {
		t.Errorf("With = %v", got)
	}
}
