package main_test

// End to end: the snskeyguard binary, built for this machine, runs as a
// subprocess against kumo seeded with the demo account of events/README.md
// (the account `make run` uses), with nothing but the SDK's own environment
// (AWS_ENDPOINT_URL, dummy credentials, AWS_REGION) pointing it there.

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
	"github.com/snskeyguard/snskeyguard/shared/report"
)

var update = flag.Bool("update", false, "rewrite testdata/demo.sarif")

// demoFlags are the settings of events/env.json, as flags.
var demoFlags = []string{
	"--required-principals", "cloudwatch.amazonaws.com,events.amazonaws.com",
	"--discover-sources=false",
	"--remediation-key-id", "alias/orders-key",
}

type run struct {
	code           int
	stdout, stderr string
}

func binary(t *testing.T) string {
	t.Helper()
	bin, err := emulator.BuildPackage("cmd/snskeyguard")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// scan runs the binary with env only (no host AWS settings leak in) and
// stdin from a pipe (not a terminal).
func scan(t *testing.T, env map[string]string, stdin string, args ...string) run {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_XRAY_SDK_DISABLED=true"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return run{code, out.String(), errOut.String()}
}

func demo(t *testing.T) (map[string]string, *emulator.Demo) {
	t.Helper()
	stack, d := emulator.NewDemo(t)
	return stack.Env(), d
}

// unchanged fails unless every key policy and topic key is as seeded.
func unchanged(t *testing.T, d *emulator.Demo) {
	t.Helper()
	pols, err := d.KeyPolicies(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for arn, p := range pols {
		if !bytes.Equal(p, d.Policies[arn]) {
			t.Errorf("key policy of %s changed:\n%s", d.Keys[arn], p)
		}
	}
	keys, err := d.CurrentTopicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(keys, d.TopicKeys) {
		t.Errorf("topic keys changed: %v, seeded %v", keys, d.TopicKeys)
	}
}

// tableRows returns the table's rows as "topic key compliance findings | fix",
// cutting each line at the header's column starts.
func tableRows(t *testing.T, out string) []string {
	t.Helper()
	var rows []string
	var cols []int
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "TOPIC"):
			for _, h := range []string{"TOPIC", "KEY", "COMPLIANCE", "FINDINGS", "FIX"} {
				cols = append(cols, strings.Index(line, h))
			}
		case cols != nil && strings.TrimSpace(line) == "":
			return rows
		case cols != nil:
			var cells []string
			for i, c := range cols {
				end := len(line)
				if i+1 < len(cols) {
					end = cols[i+1]
				}
				cells = append(cells, strings.TrimSpace(line[c:end]))
			}
			rows = append(rows, strings.Join(cells[:4], " ")+" | "+cells[4])
		}
	}
	t.Fatalf("no table in:\n%s", out)
	return nil
}

const (
	alarmsRow = "alarms alias/alarms-key NON_COMPLIANT GRANT_MISSING(cloudwatch) GRANT_MISSING(events) | key policy planned"
	auditRow  = "audit - NON_COMPLIANT TOPIC_UNENCRYPTED | move to alias/orders-key planned"
	eventsRow = "events-bus alias/events-key NON_COMPLIANT CONFUSED_DEPUTY_UNSUPPORTED(events) | key policy planned"
	legacyRow = "legacy alias/aws/sns NON_COMPLIANT KEY_AWS_MANAGED | move to alias/orders-key planned"
	ordersRow = "orders alias/orders-key COMPLIANT - | -"
	alertsRow = "snskeyguard-alerts alias/snskeyguard-alerts COMPLIANT - | -"
)

func TestScanTable(t *testing.T) {
	env, d := demo(t)
	r := scan(t, env, "", append([]string{"scan"}, demoFlags...)...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (findings); stderr:\n%s", r.code, r.stderr)
	}
	want := []string{alarmsRow, auditRow, eventsRow, legacyRow, ordersRow, alertsRow}
	// The key column shows KmsMasterKeyId as the topic names it; a re-point
	// names the remediation key by its ARN, shortened to key/<id>.
	orders := "key/" + emulator.DemoOrdersKeyID
	for i := range want {
		want[i] = strings.ReplaceAll(want[i], "move to alias/orders-key", "move to "+orders)
	}
	if got := tableRows(t, r.stdout); !reflect.DeepEqual(got, want) {
		t.Errorf("rows:\n%s\nwant:\n%s\nfull output:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), r.stdout)
	}
	for _, s := range []string{
		"account 000000000000, 1 region us-east-1, mode alert (read only)",
		"6 topics: 2 COMPLIANT, 4 NON_COMPLIANT, 0 NOT_APPLICABLE",
		"KMS cost estimate: 5 encrypted topics,",
		"Fixes: 4 (planned, nothing written; --apply writes them)",
		"--- " + emulator.DemoKeyARN(emulator.DemoAlarmsKeyID) + " (current)",
		"+++ " + emulator.DemoKeyARN(emulator.DemoAlarmsKeyID) + " (fixed)",
		`+        "Service": "cloudwatch.amazonaws.com"`,
		"# SetTopicAttributes " + emulator.DemoTopicARN("audit") + ": planned",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, r.stdout)
		}
	}
	// Not a terminal: plain progress lines, no carriage returns.
	if !strings.Contains(r.stderr, "snskeyguard: reading us-east-1\n") || strings.Contains(r.stderr, "\r") {
		t.Errorf("stderr progress:\n%q", r.stderr)
	}
	unchanged(t, d)
}

func TestScanJSON(t *testing.T) {
	env, d := demo(t)
	r := scan(t, env, "", append([]string{"scan", "--output", "json", "--quiet"}, demoFlags...)...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("--quiet wrote to stderr:\n%s", r.stderr)
	}
	var rep report.Report
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stdout is not the report JSON: %v\n%s", err, r.stdout)
	}
	var got []string
	for _, e := range rep.Evaluations {
		s := strings.TrimPrefix(e.ResourceID, "arn:aws:sns:us-east-1:000000000000:") + " " + e.Compliance
		for _, f := range e.Findings {
			s += " " + string(f.Code) + "(" + f.Principal + ")"
		}
		s += " |"
		for _, a := range e.Actions {
			s += " " + a.Type + ":" + a.Status + ":" + d.Keys[a.KeyARN]
		}
		got = append(got, s)
		if e.ResourceType != "AWS::SNS::Topic" || e.Findings == nil || e.Actions == nil {
			t.Errorf("evaluation shape: %+v", e)
		}
	}
	// The config-rule sweep's report for the same account and settings
	// (functions/e2e_test.go), without the alerts the scan never sends.
	want := []string{
		"alarms NON_COMPLIANT GRANT_MISSING(cloudwatch.amazonaws.com) GRANT_MISSING(events.amazonaws.com) | PutKeyPolicy:planned:alias/alarms-key",
		"audit NON_COMPLIANT TOPIC_UNENCRYPTED() | SetTopicAttributes:planned:alias/orders-key",
		"events-bus NON_COMPLIANT CONFUSED_DEPUTY_UNSUPPORTED(events.amazonaws.com) | PutKeyPolicy:planned:alias/events-key",
		"legacy NON_COMPLIANT KEY_AWS_MANAGED() | SetTopicAttributes:planned:alias/orders-key",
		"orders COMPLIANT |",
		"snskeyguard-alerts COMPLIANT |",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("report:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rep.Mode != "alert" || rep.Summary == nil || rep.Summary.Topics != 6 || rep.Summary.Compliance["NON_COMPLIANT"] != 4 {
		t.Errorf("mode %q summary %+v", rep.Mode, rep.Summary)
	}
	if rep.APICalls["SNS.ListTopics"] != 1 || rep.APICalls["KMS.PutKeyPolicy"] != 0 || rep.APICalls["SNS.SetTopicAttributes"] != 0 {
		t.Errorf("api calls %v", rep.APICalls)
	}
	unchanged(t, d)
}

func TestScanSARIF(t *testing.T) {
	env, d := demo(t)
	r := scan(t, env, "", append([]string{"scan", "-o", "sarif", "-q"}, demoFlags...)...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	checkSARIF(t, []byte(r.stdout), 5)
	golden := filepath.Join("testdata", "demo.sarif")
	if *update {
		if err := os.WriteFile(golden, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/snskeyguard -run TestScanSARIF -update writes it)", err)
	}
	if r.stdout != string(want) {
		t.Errorf("SARIF differs from %s (-update rewrites it):\n%s", golden, r.stdout)
	}
	unchanged(t, d)
}

// checkSARIF checks what SARIF 2.1.0 requires and what code-scanning tools
// rely on: version, schema, tool.driver.name, unique rule ids, each result's
// ruleId/ruleIndex naming a rule, a message, and a unique fingerprint.
func checkSARIF(t *testing.T, raw []byte, results int) {
	t.Helper()
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID               string `json:"id"`
						ShortDescription struct {
							Text string `json:"text"`
						} `json:"shortDescription"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					LogicalLocations []struct {
						FullyQualifiedName string `json:"fullyQualifiedName"`
					} `json:"logicalLocations"`
				} `json:"locations"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(raw, &log); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, raw)
	}
	if log.Version != "2.1.0" || !strings.Contains(log.Schema, "sarif-schema-2.1.0") || len(log.Runs) != 1 {
		t.Fatalf("version %q schema %q runs %d", log.Version, log.Schema, len(log.Runs))
	}
	run := log.Runs[0]
	if run.Tool.Driver.Name != "snskeyguard" {
		t.Errorf("driver name %q", run.Tool.Driver.Name)
	}
	ids := map[string]bool{}
	for _, r := range run.Tool.Driver.Rules {
		if r.ID == "" || ids[r.ID] || r.ShortDescription.Text == "" {
			t.Errorf("rule %+v: empty or repeated", r)
		}
		ids[r.ID] = true
	}
	if len(run.Results) != results {
		t.Errorf("%d results, want %d", len(run.Results), results)
	}
	prints := map[string]bool{}
	for _, r := range run.Results {
		if r.RuleIndex < 0 || r.RuleIndex >= len(run.Tool.Driver.Rules) || run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s: ruleIndex %d names another rule", r.RuleID, r.RuleIndex)
		}
		if r.Message.Text == "" || !slices.Contains([]string{"error", "warning", "note", "none"}, r.Level) {
			t.Errorf("result %s: message %q level %q", r.RuleID, r.Message.Text, r.Level)
		}
		if len(r.Locations) != 1 || len(r.Locations[0].LogicalLocations) != 1 || !strings.HasPrefix(r.Locations[0].LogicalLocations[0].FullyQualifiedName, "arn:aws:sns:") {
			t.Errorf("result %s: locations %+v", r.RuleID, r.Locations)
		}
		fp := r.PartialFingerprints["snskeyguardFinding/v1"]
		if fp == "" || prints[fp] {
			t.Errorf("result %s: fingerprint %q empty or repeated", r.RuleID, fp)
		}
		prints[fp] = true
	}
}

func TestScanASFF(t *testing.T) {
	env, _ := demo(t)
	r := scan(t, env, "", append([]string{"scan", "--output=asff", "-q"}, demoFlags...)...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	var fs []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, r.stdout)
	}
	if len(fs) != 5 {
		t.Fatalf("%d findings, want 5:\n%s", len(fs), r.stdout)
	}
	// The guard's Security Hub import: stable ids topic/code[/principal],
	// the account's default product in the topic's region, NEW and FAILED.
	f := fs[0]
	if f["Id"] != emulator.DemoTopicARN("alarms")+"/GRANT_MISSING/cloudwatch.amazonaws.com" ||
		f["ProductArn"] != "arn:aws:securityhub:us-east-1:000000000000:product/000000000000/default" ||
		f["SchemaVersion"] != "2018-10-08" || f["AwsAccountId"] != "000000000000" ||
		f["Workflow"].(map[string]any)["Status"] != "NEW" || f["Compliance"].(map[string]any)["Status"] != "FAILED" {
		t.Errorf("first finding:\n%v", f)
	}
	for _, f := range fs {
		for _, k := range []string{"SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Types", "CreatedAt", "UpdatedAt", "Severity", "Title", "Description", "Resources"} {
			if f[k] == nil {
				t.Errorf("finding %v lacks ASFF's required %s", f["Id"], k)
			}
		}
	}
}

func TestScanApply(t *testing.T) {
	env, d := demo(t)
	args := append([]string{"scan", "--apply"}, demoFlags...)

	// No terminal and no --yes: refused before anything is read or written.
	r := scan(t, env, "yes\n", args...)
	if r.code != 2 || !strings.Contains(r.stderr, "pass --yes") {
		t.Fatalf("--apply without a terminal: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("refused --apply printed:\n%s", r.stdout)
	}
	unchanged(t, d)

	r = scan(t, env, "", append(args, "--yes")...)
	if r.code != 0 {
		t.Fatalf("--apply --yes: exit %d, want 0 (every topic fixed); stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	plan, after, ok := strings.Cut(r.stdout, "\nAfter --apply:\n")
	if !ok {
		t.Fatalf("no result after the plan:\n%s", r.stdout)
	}
	if !strings.Contains(plan, "Fixes: 4 (planned, nothing written") {
		t.Errorf("the plan was not shown first:\n%s", plan)
	}
	for _, s := range []string{"mode remediate (fixes written)", "6 topics: 6 COMPLIANT, 0 NON_COMPLIANT",
		"# PutKeyPolicy " + emulator.DemoKeyARN(emulator.DemoAlarmsKeyID) + " for alarms: applied"} {
		if !strings.Contains(after, s) {
			t.Errorf("result lacks %q:\n%s", s, after)
		}
	}
	pols, err := d.KeyPolicies(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{emulator.DemoAlarmsKeyID, emulator.DemoEventsKeyID} {
		if arn := emulator.DemoKeyARN(id); bytes.Equal(pols[arn], d.Policies[arn]) {
			t.Errorf("key policy of %s not fixed", d.Keys[arn])
		}
	}
	keys, err := d.CurrentTopicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := keys[emulator.DemoTopicARN("audit")]; got != emulator.DemoKeyARN(emulator.DemoOrdersKeyID) {
		t.Errorf("audit topic key %q, want the remediation key", got)
	}

	// A second scan finds every topic compliant and plans nothing.
	r = scan(t, env, "", append([]string{"scan"}, demoFlags...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "Fixes: none") {
		t.Errorf("second scan: exit %d, want 0:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// And --apply with nothing to do writes nothing and asks nothing.
	before, _ := d.KeyPolicies(t.Context())
	r = scan(t, env, "", append(args, "--yes")...)
	after2, _ := d.KeyPolicies(t.Context())
	if r.code != 0 || !strings.Contains(r.stderr, "Nothing to apply") || !maps.EqualFunc(before, after2, bytes.Equal) {
		t.Errorf("idempotent --apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestScanErrors(t *testing.T) {
	env, d := demo(t)
	for name, c := range map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"bad output":        {env, []string{"scan", "--output", "xml"}, `--output "xml": want table, json, sarif or asff`},
		"bad principal":     {env, []string{"scan", "--required-principals", "*"}, `--required-principals: "*" is not a service principal`},
		"bad bool":          {env, []string{"scan", "--discover-sources=maybe"}, `--discover-sources "maybe": want true or false`},
		"bad region":        {env, []string{"scan", "--region", "us-east-1,moon"}, `"moon" is not an AWS region`},
		"yes without apply": {env, []string{"scan", "--yes"}, "--yes is only meaningful with --apply"},
		"unknown command":   {env, []string{"sweep"}, `unknown command "sweep"`},
		"AWS unreachable":   {emulator.With(env, map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_MAX_ATTEMPTS": "1"}), []string{"scan"}, "credentials: get caller identity"},
		"no region":         {map[string]string{"AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"], "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}, []string{"scan"}, "no region"},
	} {
		t.Run(name, func(t *testing.T) {
			r := scan(t, c.env, "", c.args...)
			if r.code != 2 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("exit %d, want 2 with %q; stderr:\n%s", r.code, c.want, r.stderr)
			}
		})
	}
	unchanged(t, d)
}

// TestScanEndpointFlag: --endpoint-url reaches the emulator as
// AWS_ENDPOINT_URL does.
func TestScanEndpointFlag(t *testing.T) {
	env, _ := demo(t)
	url := env["AWS_ENDPOINT_URL"]
	delete(env, "AWS_ENDPOINT_URL")
	r := scan(t, env, "", append([]string{"scan", "-q", "-o", "json", "--endpoint-url", url, "--region", "us-east-1"}, demoFlags...)...)
	if r.code != 1 || !strings.Contains(r.stdout, `"resourceId": "arn:aws:sns:us-east-1:000000000000:alarms"`) {
		t.Errorf("--endpoint-url: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// iamPrefix is the IAM service prefix of each SDK service id the edge counts
// calls by. IAM actions are the prefix and the API operation's name, e.g.
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-permissions-reference.html
var iamPrefix = map[string]string{"SNS": "sns", "KMS": "kms", "CloudWatch": "cloudwatch", "EventBridge": "events", "STS": "sts"}

// readmeActions reads the IAM actions of the scan's read-only policy in the
// README's "Try it on your account" section.
func readmeActions(t *testing.T) map[string]bool {
	t.Helper()
	root, err := emulator.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(raw), "## Try it on your account")
	_, block, ok2 := strings.Cut(sec, "```json\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README has no JSON policy in its Try it on your account section")
	}
	var pol struct {
		Statement []struct {
			Effect string   `json:"Effect"`
			Action []string `json:"Action"`
		} `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(block), &pol); err != nil {
		t.Fatalf("README policy: %v\n%s", err, block)
	}
	out := map[string]bool{}
	for _, s := range pol.Statement {
		for _, a := range s.Action {
			if s.Effect == "Allow" {
				out[a] = true
			}
		}
	}
	return out
}

// The scan (discovery on and the exemption tag read, the defaults) calls
// only actions the README's read-only policy lists; STS GetCallerIdentity
// needs no permission
// (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
func TestScanNeedsOnlyTheREADMEPermissions(t *testing.T) {
	listed := readmeActions(t)
	for a := range listed {
		if strings.Contains(a, "Put") || strings.Contains(a, "Set") || strings.Contains(a, "*") {
			t.Errorf("the read-only policy lists %s", a)
		}
	}
	env, _ := demo(t)
	r := scan(t, env, "", "scan", "-q", "-o", "json", "--required-principals", "cloudwatch.amazonaws.com")
	if r.code == 2 {
		t.Fatalf("exit 2:\n%s", r.stderr)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"EventBridge.ListEventBuses", "CloudWatch.DescribeAlarms", "SNS.ListTagsForResource", "KMS.GetKeyPolicy"} {
		if rep.APICalls[want] == 0 {
			t.Errorf("the scan did not call %s (the check would be vacuous): %v", want, rep.APICalls)
		}
	}
	for call := range rep.APICalls {
		svc, op, _ := strings.Cut(call, ".")
		if call == "STS.GetCallerIdentity" {
			continue
		}
		if action := iamPrefix[svc] + ":" + op; !listed[action] {
			t.Errorf("the scan calls %s; the README does not list %s", call, action)
		}
	}
}

// Two regions: each is swept through clients of its own region and the
// table gains a REGION column. (kumo ignores the region of a request and
// answers the same topics in both, so each topic appears twice here; in AWS
// each region lists its own.)
func TestScanRegions(t *testing.T) {
	env, d := demo(t)
	r := scan(t, env, "", append([]string{"scan", "--region", "us-east-1", "--region=us-west-2,us-east-1"}, demoFlags...)...)
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"account 000000000000, 2 regions us-east-1,us-west-2, mode alert", "\nREGION     TOPIC", "12 topics: 4 COMPLIANT, 8 NON_COMPLIANT"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "snskeyguard: reading us-east-1\n") || !strings.Contains(r.stderr, "snskeyguard: reading us-west-2\n") {
		t.Errorf("progress:\n%s", r.stderr)
	}
	unchanged(t, d)
}

// On a terminal (a pseudo-terminal from util-linux script(1)): the progress
// line is redrawn in place, --apply asks, and "yes" writes the fixes.
func TestScanApplyOnATerminal(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no script(1) (util-linux) to give the command a terminal; CI needs it")
		}
		t.Skip("no script(1) (util-linux) to give the command a terminal")
	}
	env, d := demo(t)
	cmdline := binary(t) + " scan --apply " + strings.Join(demoFlags, " ")
	cmd := exec.Command(scriptBin, "-qfec", cmdline, "/dev/null")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_XRAY_SDK_DISABLED=true", "TERM=dumb"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Answer only once the question is asked: a terminal sees what it types.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "Only 'yes' writes: ") {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no question asked:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := io.WriteString(stdin, "yes\n"); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	s := out.String()
	if err != nil {
		t.Fatalf("exit %v (want 0: every topic fixed):\n%s", err, s)
	}
	if !strings.Contains(s, "\r\x1b[Kreading us-east-1") || !strings.Contains(s, "topics, ") {
		t.Errorf("no progress line on the terminal:\n%q", s)
	}
	if !strings.Contains(s, "Write these 4 fix(es) to account 000000000000?") || !strings.Contains(s, "6 topics: 6 COMPLIANT") {
		t.Errorf("output:\n%s", s)
	}
	pols, err := d.KeyPolicies(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if arn := emulator.DemoKeyARN(emulator.DemoAlarmsKeyID); bytes.Equal(pols[arn], d.Policies[arn]) {
		t.Error("yes on the terminal did not write the alarms key fix")
	}
}

// syncBuffer is a bytes.Buffer safe for the writer and a polling reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
