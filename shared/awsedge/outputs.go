package awsedge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cfgtypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/snskeyguard/snskeyguard/shared/configrule"
)

// BatchImportFindings takes at most 100 findings per call.
const maxFindingsPerCall = 100

// TestModeToken is the result token of a Config rule invoked by hand (and by
// `sam local invoke`): nothing may be sent to Config for it.
const TestModeToken = "TESTMODE"

// PutEvaluations reports evaluations to AWS Config in batches of
// configrule.MaxBatch. The TESTMODE token sends nothing. Annotations over
// Config's limit are cut, and any other evaluation Config would refuse fails
// here, before a call, because Config would reject its whole batch.
// Evaluations Config lists as failed make the call an error.
func (a *Account) PutEvaluations(ctx context.Context, resultToken string, evals []configrule.Evaluation) error {
	if resultToken == TestModeToken || len(evals) == 0 {
		return nil
	}
	for _, batch := range configrule.Batches(evals) {
		in := &configservice.PutEvaluationsInput{ResultToken: aws.String(resultToken)}
		for _, e := range batch {
			e.Annotation = truncate(e.Annotation, configrule.MaxAnnotation)
			if err := e.Validate(); err != nil {
				return fmt.Errorf("put evaluations: %w", err)
			}
			ce := cfgtypes.Evaluation{
				ComplianceResourceType: aws.String(e.ResourceType),
				ComplianceResourceId:   aws.String(e.ResourceID),
				ComplianceType:         cfgtypes.ComplianceType(e.Compliance),
				OrderingTimestamp:      aws.Time(e.OrderingTimestamp),
			}
			if e.Annotation != "" {
				ce.Annotation = aws.String(e.Annotation)
			}
			in.Evaluations = append(in.Evaluations, ce)
		}
		out, err := a.config.PutEvaluations(ctx, in)
		if err != nil {
			return fmt.Errorf("put evaluations: %w", err)
		}
		if n := len(out.FailedEvaluations); n > 0 {
			return fmt.Errorf("put evaluations: %d of %d failed (first %s)", n, len(batch), aws.ToString(out.FailedEvaluations[0].ComplianceResourceId))
		}
	}
	return nil
}

// truncate cuts s to at most n characters (runes), marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// SelectResources runs an AWS Config advanced query (all pages) and returns
// its result rows as JSON, for example to find the topics of one key without
// listing every topic when Config records them.
func (a *Account) SelectResources(ctx context.Context, expression string) ([]json.RawMessage, error) {
	var rows []json.RawMessage
	var token *string
	seen := map[string]bool{}
	for {
		out, err := a.config.SelectResourceConfig(ctx, &configservice.SelectResourceConfigInput{
			Expression: aws.String(expression), Limit: 100, NextToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("select resource config: %w", err)
		}
		for _, r := range out.Results {
			rows = append(rows, json.RawMessage(r))
		}
		token = out.NextToken
		if token == nil || *token == "" || seen[*token] {
			return rows, nil
		}
		seen[*token] = true
	}
}

// Finding is one Security Hub finding before it becomes ASFF. Its fields
// match guard.HubFinding one for one so either converts to the other.
type Finding struct {
	ID          string // stable per topic, code (and principal): a repeat updates the finding
	TopicARN    string
	KeyARN      string
	Code        string
	Principal   string
	Title       string
	Description string
	Severity    string // CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL
	Resolved    bool   // workflow RESOLVED, compliance PASSED, record ARCHIVED
}

// ImportFindings sends findings to Security Hub (BatchImportFindings, 100 per
// call) as ASFF under the account's default product. Findings Security Hub
// reports as failed make the call an error.
func (a *Account) ImportFindings(ctx context.Context, findings []Finding) error {
	if len(findings) == 0 {
		return nil
	}
	// The topic ARN names the account; ask STS only when one does not.
	acct := ""
	for _, f := range findings {
		if accountOf(f.TopicARN) == "" {
			id, err := a.accountID(ctx)
			if err != nil {
				return fmt.Errorf("import findings: %w", err)
			}
			acct = id
			break
		}
	}
	now := a.edge.now().UTC().Format(time.RFC3339)
	for start := 0; start < len(findings); start += maxFindingsPerCall {
		batch := findings[start:min(start+maxFindingsPerCall, len(findings))]
		in := &securityhub.BatchImportFindingsInput{}
		for _, f := range batch {
			in.Findings = append(in.Findings, a.asff(f, acct, now))
		}
		out, err := a.securityhub.BatchImportFindings(ctx, in)
		if err != nil {
			return fmt.Errorf("import findings: %w", err)
		}
		if n := aws.ToInt32(out.FailedCount); n > 0 {
			first := ""
			if len(out.FailedFindings) > 0 {
				first = aws.ToString(out.FailedFindings[0].ErrorCode) + ": " + aws.ToString(out.FailedFindings[0].ErrorMessage)
			}
			return fmt.Errorf("import findings: %d of %d failed (%s)", n, len(batch), first)
		}
	}
	return nil
}

// FindingID is a stable Security Hub finding id for a topic, a code and an
// optional principal.
func FindingID(topicARN, code, principal string) string {
	id := topicARN + "/" + code
	if principal != "" {
		id += "/" + principal
	}
	return id
}

// asff converts a Finding. The finding's account is the topic's (the account
// these clients act in); ProductArn is that account's default product, the
// one Security Hub accepts custom findings under. CreatedAt is the import
// time: Security Hub keeps the first CreatedAt of an id and updates the rest.
func (a *Account) asff(f Finding, acct, now string) shtypes.AwsSecurityFinding {
	return ASFF(f, a.region, acct, now)
}

// ASFF converts a Finding the way ImportFindings sends it: region is where
// the findings are imported (its product ARN), acct the account a topic ARN
// without one falls back to, now the RFC 3339 import time.
func ASFF(f Finding, region, acct, now string) shtypes.AwsSecurityFinding {
	partition := partitionOf(f.TopicARN)
	if id := accountOf(f.TopicARN); id != "" {
		acct = id
	}
	// BatchImportFindings accepts only its own region's product ARN; the
	// resource keeps the region its ARN names.
	resRegion := region
	if r := regionOf(f.TopicARN); r != "" {
		resRegion = r
	}
	id := f.ID
	if id == "" {
		id = FindingID(f.TopicARN, f.Code, f.Principal)
	}
	severity := strings.ToUpper(f.Severity)
	if _, ok := severities[severity]; !ok {
		severity = "MEDIUM"
	}
	workflow, compliance, record := shtypes.WorkflowStatusNew, shtypes.ComplianceStatusFailed, shtypes.RecordStateActive
	if f.Resolved {
		workflow, compliance, record = shtypes.WorkflowStatusResolved, shtypes.ComplianceStatusPassed, shtypes.RecordStateArchived
	}
	resources := []shtypes.Resource{{
		Type: aws.String("AwsSnsTopic"), Id: aws.String(f.TopicARN),
		Partition: shtypes.Partition(partition), Region: aws.String(resRegion),
	}}
	if f.KeyARN != "" {
		keyRegion := regionOf(f.KeyARN)
		if keyRegion == "" {
			keyRegion = resRegion
		}
		resources = append(resources, shtypes.Resource{
			Type: aws.String("AwsKmsKey"), Id: aws.String(f.KeyARN),
			Partition: shtypes.Partition(partition), Region: aws.String(keyRegion),
		})
	}
	title := truncate(f.Title, 256)
	if title == "" {
		title = f.Code
	}
	desc := truncate(f.Description, 1024)
	if desc == "" {
		desc = title
	}
	out := shtypes.AwsSecurityFinding{
		SchemaVersion: aws.String("2018-10-08"),
		Id:            aws.String(id),
		ProductArn:    aws.String("arn:" + partition + ":securityhub:" + region + ":" + acct + ":product/" + acct + "/default"),
		GeneratorId:   aws.String("snskeyguard/" + f.Code),
		AwsAccountId:  aws.String(acct),
		Types:         []string{"Software and Configuration Checks/AWS Security Best Practices"},
		CreatedAt:     aws.String(now),
		UpdatedAt:     aws.String(now),
		Severity:      &shtypes.Severity{Label: shtypes.SeverityLabel(severity)},
		Title:         aws.String(title),
		Description:   aws.String(desc),
		Resources:     resources,
		Compliance:    &shtypes.Compliance{Status: compliance},
		Workflow:      &shtypes.Workflow{Status: workflow},
		RecordState:   record,
		ProductFields: map[string]string{"snskeyguard/code": f.Code},
	}
	if f.Principal != "" {
		out.ProductFields["snskeyguard/principal"] = f.Principal
	}
	return out
}

var severities = map[string]struct{}{"CRITICAL": {}, "HIGH": {}, "MEDIUM": {}, "LOW": {}, "INFORMATIONAL": {}}

func arnField(arn string, i int) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ""
	}
	return parts[i]
}

func regionOf(arn string) string  { return arnField(arn, 3) }
func accountOf(arn string) string { return arnField(arn, 4) }

// ASFFJSON is findings as a JSON array of ASFF documents, the input of
// `aws securityhub batch-import-findings --findings file://...` (at most 100
// per call). Members the SDK leaves unset are omitted, as in ASFF documents.
// region "" imports each finding in its topic's region.
func ASFFJSON(findings []Finding, region, acct string, now time.Time) ([]byte, error) {
	ts := now.UTC().Format(time.RFC3339)
	out := make([]any, 0, len(findings))
	for _, f := range findings {
		r := region
		if r == "" {
			r = regionOf(f.TopicARN)
		}
		raw, err := json.Marshal(ASFF(f, r, acct, ts))
		if err != nil {
			return nil, fmt.Errorf("asff: %w", err)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("asff: %w", err)
		}
		if v = prune(v); v != nil {
			out = append(out, v)
		}
	}
	return json.MarshalIndent(out, "", "  ")
}

// prune drops nulls, empty strings, empty arrays and empty objects: the SDK's
// structs marshal every unset member, which is not how ASFF is written.
func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, m := range x {
			if p := prune(m); p == nil {
				delete(x, k)
			} else {
				x[k] = p
			}
		}
		if len(x) == 0 {
			return nil
		}
	case []any:
		kept := x[:0]
		for _, m := range x {
			if p := prune(m); p != nil {
				kept = append(kept, p)
			}
		}
		if len(kept) == 0 {
			return nil
		}
		return kept
	case string:
		if x == "" {
			return nil
		}
	case nil:
		return nil
	}
	return v
}

// Evaluation is configrule.Evaluation, kept under this name for callers
// written before PutEvaluations took configrule's type.
type Evaluation = configrule.Evaluation
