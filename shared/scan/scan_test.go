package scan

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/cost"
	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

const (
	topicA = "arn:aws:sns:us-east-1:111122223333:alarms"
	topicB = "arn:aws:sns:us-east-1:111122223333:billing"
	topicC = "arn:aws:sns:eu-west-1:111122223333:audit"
	keyA   = "arn:aws:kms:us-east-1:111122223333:key/aaaa"
	keyR   = "arn:aws:kms:eu-west-1:111122223333:key/rrrr"
)

var (
	before = []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`)
	after  = []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},{"Sid":"CW","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}]}`)
)

// sample is two regions: two topics sharing one key fix in us-east-1, one
// unencrypted topic moved to a remediation key in eu-west-1.
func sample() Result {
	est := cost.Monthly(1)
	fix := report.Action{Type: report.ActionPutKeyPolicy, KeyARN: keyA, Status: report.StatusPlanned,
		Changes: []string{"add statement CW for cloudwatch.amazonaws.com"}, Before: before, After: after}
	a := report.NewEvaluation(topicA, rules.NonCompliant)
	a.Findings = []rules.Finding{{Code: rules.GrantMissing, Principal: "cloudwatch.amazonaws.com", KeyARN: keyA, Message: "CloudWatch alarms fail", Fixable: true}}
	a.Actions = []report.Action{fix}
	a.KMSCost = &est
	b := report.NewEvaluation(topicB, rules.NonCompliant)
	b.Findings = []rules.Finding{{Code: rules.GrantMissing, Principal: "cloudwatch.amazonaws.com", KeyARN: keyA, Message: "CloudWatch alarms fail", Fixable: true},
		{Code: rules.SourceNeedsRole, Principal: "autoscaling.amazonaws.com", Message: "needs a role"}}
	b.Actions = []report.Action{fix}
	b.KMSCost = &est
	c := report.NewEvaluation(topicC, rules.NonCompliant)
	c.Findings = []rules.Finding{{Code: rules.TopicUnencrypted, Message: "unencrypted", Fixable: true}}
	c.Actions = []report.Action{{Type: report.ActionSetTopicKey, TopicARN: topicC, KeyARN: keyR, Status: report.StatusPlanned}}
	east := report.New("alert")
	east.Evaluations = []report.Evaluation{a, b}
	east.APICalls = map[string]int{"SNS.ListTopics": 1}
	west := report.New("alert")
	west.Evaluations = []report.Evaluation{c}
	west.APICalls = map[string]int{"SNS.ListTopics": 1, "SNS.GetTopicAttributes": 1}
	return Result{Account: "111122223333", Regions: []string{"us-east-1", "eu-west-1"},
		Report:    Merge("alert", []report.Report{east, west}),
		TopicKeys: map[string]string{topicA: "alias/alarms", topicB: keyA, topicC: ""}}
}

func TestMergeFixesCostExit(t *testing.T) {
	r := sample()
	rep := r.Report
	if len(rep.Evaluations) != 3 || rep.APICalls["SNS.ListTopics"] != 2 || rep.Summary == nil || rep.Summary.Topics != 3 ||
		rep.Summary.Codes["GRANT_MISSING"] != 2 || rep.Summary.Omitted != 0 {
		t.Fatalf("merged %+v %+v", rep.APICalls, rep.Summary)
	}
	fixes := Fixes(rep)
	if len(fixes) != 2 || fixes[0].KeyARN != keyA || !slices.Equal(fixes[0].Topics, []string{topicA, topicB}) ||
		fixes[1].Type != report.ActionSetTopicKey || fixes[1].TopicARN != topicC {
		t.Fatalf("fixes %+v", fixes)
	}
	if len(Planned(rep)) != 2 {
		t.Error("planned")
	}
	rep.Evaluations[2].Actions[0].Status = report.StatusSkipped
	if p := Planned(rep); len(p) != 1 || p[0].KeyARN != keyA {
		t.Errorf("a skipped fix is not planned: %+v", p)
	}
	c := Cost(r.Report)
	// Two topics with one publisher: 2 x 17,280 requests, priced from the sum.
	if c.Topics != 2 || c.RequestsPerMonth != 34560 || c.USDPerMonth != 0.10 {
		t.Errorf("cost %+v", c)
	}
	if ExitCode(r.Report) != ExitFindings {
		t.Error("findings exit")
	}
	ok := report.New("remediate")
	ok.Evaluations = []report.Evaluation{report.NewEvaluation(topicA, rules.Compliant), report.NewEvaluation(topicB, rules.NotApplicable)}
	if ExitCode(ok) != ExitCompliant || ExitCode(report.New("alert")) != ExitCompliant {
		t.Error("compliant exit")
	}
	if got := Codes(r.Report); !slices.Equal(got, []string{"GRANT_MISSING", "SOURCE_NEEDS_ROLE", "TOPIC_UNENCRYPTED"}) {
		t.Errorf("codes %v", got)
	}
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	if err := Table(&b, sample()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"snskeyguard scan: account 111122223333, 2 regions us-east-1,eu-west-1, mode alert (read only)\n",
		"REGION     TOPIC    KEY           COMPLIANCE     FINDINGS                                                  FIX\n",
		"us-east-1  alarms   alias/alarms  NON_COMPLIANT  GRANT_MISSING(cloudwatch)                                 key policy planned\n",
		"us-east-1  billing  key/aaaa      NON_COMPLIANT  GRANT_MISSING(cloudwatch) SOURCE_NEEDS_ROLE(autoscaling)  key policy planned\n",
		"eu-west-1  audit    -             NON_COMPLIANT  TOPIC_UNENCRYPTED                                         move to key/rrrr planned\n",
		"3 topics: 0 COMPLIANT, 3 NON_COMPLIANT, 0 NOT_APPLICABLE\n",
		"KMS cost estimate: 2 encrypted topics, 34,560 KMS requests per month, $0.10 per month\n",
		"Fixes: 2 (planned, nothing written; --apply writes them)\n",
		"# PutKeyPolicy " + keyA + " for alarms, billing: planned\n#   add statement CW for cloudwatch.amazonaws.com\n--- " + keyA + " (current)\n+++ " + keyA + " (fixed)\n",
		"+      \"Sid\": \"CW\",\n",
		"# SetTopicAttributes " + topicC + ": planned\n-KmsMasterKeyId: -\n+KmsMasterKeyId: " + keyR + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// One diff per key, not per topic.
	if n := strings.Count(out, "--- "+keyA); n != 1 {
		t.Errorf("%d diffs of the shared key", n)
	}
}

func TestTableOneRegionCompliant(t *testing.T) {
	rep := report.New("remediate")
	e := report.NewEvaluation(topicA, rules.Compliant)
	rep.Evaluations = []report.Evaluation{e}
	n := report.NewEvaluation(topicB, rules.NotApplicable)
	n.Note = "exempt: topic has the exemption tag"
	rep.Evaluations = append(rep.Evaluations, n)
	var b bytes.Buffer
	if err := Table(&b, Result{Account: "1", Regions: []string{"us-east-1"}, Report: rep, TopicKeys: map[string]string{topicA: "alias/x"}}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"mode remediate (fixes written)", "\nTOPIC    KEY      COMPLIANCE", "alarms   alias/x  COMPLIANT       -         -\n",
		"billing  -        NOT_APPLICABLE  -         exempt: topic has the exemption tag\n", "Fixes: none\n", "0 encrypted topics, 0 KMS requests per month, $0.00"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "REGION") {
		t.Error("one region: no REGION column")
	}
}

func TestSARIF(t *testing.T) {
	var b bytes.Buffer
	if err := SARIF(&b, sample(), "1.2.3"); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Version, SemanticVersion string
					Rules                    []struct {
						ID                   string            `json:"id"`
						Name                 string            `json:"name"`
						DefaultConfiguration map[string]string `json:"defaultConfiguration"`
						Properties           map[string]any    `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID              string            `json:"ruleId"`
				RuleIndex           int               `json:"ruleIndex"`
				Level               string            `json:"level"`
				Kind                string            `json:"kind"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if log.Version != "2.1.0" || run.Tool.Driver.SemanticVersion != "1.2.3" || len(run.Tool.Driver.Rules) != len(CodeTable) {
		t.Fatalf("log %+v", log)
	}
	r := run.Tool.Driver.Rules[10]
	if r.ID != "GRANT_MISSING" || r.Name != "GrantMissing" || r.DefaultConfiguration["level"] != "error" || r.Properties["security-severity"] != "8.0" {
		t.Errorf("rule %+v", r)
	}
	if len(run.Results) != 4 {
		t.Fatalf("%d results", len(run.Results))
	}
	// The same finding on two topics has two fingerprints; the same topic,
	// code and principal always the same one.
	fa, fb := run.Results[0].PartialFingerprints["snskeyguardFinding/v1"], run.Results[1].PartialFingerprints["snskeyguardFinding/v1"]
	if fa == "" || fa == fb || fa != Fingerprint(topicA, rules.Finding{Code: rules.GrantMissing, Principal: "cloudwatch.amazonaws.com", Message: "other text"}) {
		t.Errorf("fingerprints %q %q", fa, fb)
	}
	if run.Results[2].RuleID != "SOURCE_NEEDS_ROLE" || run.Results[2].Level != "warning" || run.Results[2].RuleIndex != 17 {
		t.Errorf("result %+v", run.Results[2])
	}
	// A topic left compliant by --apply: its findings pass.
	s := sample()
	s.Report.Evaluations[2].Compliance = rules.Compliant
	b.Reset()
	if err := SARIF(&b, s, "devel"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"kind": "pass"`) || strings.Contains(b.String(), "semanticVersion") {
		t.Errorf("fixed finding / devel version:\n%s", b.String())
	}
	s.Report.Evaluations[0].Findings[0].Code = "NOT_A_CODE"
	if err := SARIF(&b, s, "devel"); err == nil {
		t.Error("a code without a rule must fail, not be dropped")
	}
}

// Every finding code of shared/rules has a SARIF rule, once, in DESIGN.md's table.
func TestCodeTableCoversEveryCode(t *testing.T) {
	src, err := os.ReadFile("../rules/types.go")
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, m := range regexp.MustCompile(`\bCode = "([A-Z_]+)"`).FindAllStringSubmatch(string(src), -1) {
		codes = append(codes, m[1])
	}
	var table []string
	for _, c := range CodeTable {
		table = append(table, string(c.Code))
		if c.Description == "" || c.Fix == "" {
			t.Errorf("%s: empty description or fix", c.Code)
		}
	}
	if len(codes) < 20 || !slices.Equal(codes, table) {
		t.Errorf("rules codes %v\nSARIF table %v", codes, table)
	}
}

func TestHelpers(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 17280: "17,280", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%d) = %q", in, got)
		}
	}
	for in, want := range map[string]string{"": "-", "alias/x": "alias/x", "1234": "1234", keyA: "key/aaaa",
		"arn:aws:kms:us-east-1:1:alias/x": "alias/x"} {
		if got := keyName(in); got != want {
			t.Errorf("keyName(%q) = %q", in, got)
		}
	}
	if ruleName(rules.ConfusedDeputyUnsupported) != "ConfusedDeputyUnsupported" {
		t.Error(ruleName(rules.ConfusedDeputyUnsupported))
	}
}
