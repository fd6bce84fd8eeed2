package template

import (
	"bufio"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"

	"github.com/snskeyguard/snskeyguard/shared/awsedge"
	"github.com/snskeyguard/snskeyguard/shared/guard"
)

// functions maps each SAM logical id to its source folder (docs/DESIGN.md, "Entry points").
var functions = map[string]string{
	"TopicGuardFunction": "topic-guard",
	"KeyGuardFunction":   "key-guard",
	"ConfigRuleFunction": "config-rule",
}

// settings maps every configuration variable of docs/DESIGN.md to the parameter that sets it.
var settings = map[string]string{
	"MODE":                        "Mode",
	"REQUIRED_SERVICE_PRINCIPALS": "RequiredServicePrincipals",
	"DISCOVER_SOURCES":            "DiscoverSources",
	"ALERT_TOPIC_ARN":             "AlertTopicArn",
	"REMEDIATION_KEY_ID":          "RemediationKeyId",
	"EXEMPT_TAG_KEY":              "ExemptTagKey",
	"CROSS_ACCOUNT_ROLE_NAME":     "CrossAccountRoleName",
	"SECURITY_HUB":                "SecurityHub",
}

func TestFunctionsBuildFromTheirFolders(t *testing.T) {
	tpl, err := goformation.Open(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatalf("goformation: %v", err)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatalf("read Makefile: %v", err)
	}
	fns := tpl.GetAllServerlessFunctionResources()
	if got, want := sortedKeys(fns), sortedKeys(functions); !slices.Equal(got, want) {
		t.Fatalf("functions %v, want %v", got, want)
	}
	for id, fn := range fns {
		if fn.CodeUri == nil || fn.CodeUri.String == nil || *fn.CodeUri.String != "." {
			t.Errorf("%s: CodeUri must be \".\" so changes under shared/ rebuild it", id)
		}
		if got := fn.AWSCloudFormationMetadata["BuildMethod"]; got != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod = %v, want makefile", id, got)
		}
		// Runtime, architecture, handler and tracing come from Globals only, so one
		// place decides them for all three.
		if fn.Runtime != nil || fn.Architectures != nil || fn.Tracing != nil || fn.Handler != nil {
			t.Errorf("%s overrides Runtime/Architectures/Tracing/Handler of Globals", id)
		}
		dir := filepath.Join(root, "functions", functions[id])
		goFiles, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		if len(goFiles) == 0 {
			t.Errorf("%s: no Go source in %s", id, dir)
		}
		target := regexp.MustCompile(`(?m)^build-` + id + `\s*:`)
		if !target.Match(makefile) {
			t.Errorf("%s: Makefile has no build-%s target (SAM BuildMethod makefile calls it)", id, id)
		}
	}
	g, err := tpl.GetServerlessGlobalFunction()
	if err != nil {
		t.Fatalf("Globals.Function: %v", err)
	}
	if g.Runtime == nil || *g.Runtime != "provided.al2023" {
		t.Errorf("Globals Runtime = %v, want provided.al2023", g.Runtime)
	}
	if g.Architectures == nil || !slices.Equal(*g.Architectures, []string{"arm64"}) {
		t.Errorf("Globals Architectures = %v, want [arm64]", g.Architectures)
	}
	if g.Tracing == nil || *g.Tracing != "Active" {
		t.Errorf("Globals Tracing = %v, want Active", g.Tracing)
	}
	if g.Handler == nil || *g.Handler != "bootstrap" {
		t.Errorf("Globals Handler = %v, want bootstrap", g.Handler)
	}
}

func TestEverySettingIsFedByAParameter(t *testing.T) {
	tpl := rawTemplate(t)
	params := obj(tpl["Parameters"])
	wantEnum := map[string][]string{
		"Mode":             {"alert", "remediate"},
		"DiscoverSources":  {"true", "false"},
		"SecurityHub":      {"true", "false"},
		"EnableConfigRule": {"true", "false"},
	}
	wantDefault := map[string]string{"Mode": "alert", "DiscoverSources": "true", "SecurityHub": "false", "AlertTopicArn": ""}
	for name, values := range wantEnum {
		var got []string
		for _, v := range list(obj(params[name])["AllowedValues"]) {
			got = append(got, scalar(v))
		}
		if !slices.Equal(got, values) {
			t.Errorf("parameter %s AllowedValues %v, want %v", name, got, values)
		}
	}
	base := newStack(t, tpl, nil)
	for name, want := range wantDefault {
		if got := base.params[name]; got != want {
			t.Errorf("parameter %s default %q, want %q", name, got, want)
		}
	}
	for _, id := range sortedKeys(functions) {
		fn := obj(obj(tpl["Resources"])[id])
		env := base.env(fn)
		want := slices.Concat(sortedKeys(settings), sortedKeys(localOnly), sortedKeys(resourceSettings))
		slices.Sort(want)
		if got := sortedKeys(env); !slices.Equal(got, want) {
			t.Errorf("%s environment %v, want exactly %v", id, got, want)
		}
		for k, res := range resourceSettings {
			if r, ok := ref(env[k]); !ok || r != res {
				t.Errorf("%s %s = %s, want !Ref %s", id, k, jsonOf(env[k]), res)
			}
		}
		// Declared only for `sam local invoke --env-vars`: empty when deployed.
		for k := range localOnly {
			if env[k] != "" {
				t.Errorf("%s %s = %s, want empty (it is set only by events/env.json locally)", id, k, jsonOf(env[k]))
			}
		}
	}
	// Each setting must follow its parameter: change the parameter and watch the
	// variable of every function change to the same value.
	probe := map[string]string{
		"Mode": "remediate", "DiscoverSources": "false", "SecurityHub": "true",
		"RequiredServicePrincipals": "cloudwatch.amazonaws.com,events.amazonaws.com",
		"AlertTopicArn":             "arn:aws:sns:us-east-1:111122223333:ops-alerts",
		"RemediationKeyId":          "alias/sns-remediation",
		"ExemptTagKey":              "probe:exempt",
		"CrossAccountRoleName":      "snskeyguard-member",
	}
	for _, variable := range sortedKeys(settings) {
		param := settings[variable]
		if _, ok := params[param]; !ok {
			t.Errorf("%s: parameter %s missing", variable, param)
			continue
		}
		s := newStack(t, tpl, map[string]string{param: probe[param]})
		for _, id := range sortedKeys(functions) {
			got := s.env(s.resources(t)[id])[variable]
			if got != probe[param] {
				t.Errorf("%s of %s with %s=%q is %s, want the parameter's value", variable, id, param, probe[param], jsonOf(got))
			}
		}
	}
	// Without an AlertTopicArn the stack's own topic receives the alerts.
	for _, id := range sortedKeys(functions) {
		if got := base.env(base.resources(t)[id])["ALERT_TOPIC_ARN"]; !refersTo(got, "AlertTopic") {
			t.Errorf("%s ALERT_TOPIC_ARN by default is %s, want Ref AlertTopic", id, jsonOf(got))
		}
	}
}

// resourceSettings are the variables the stack sets from one of its own resources, by the
// resource's logical id (Ref): the queue that keeps announcements the alert topic did not take.
var resourceSettings = map[string]string{"ANNOUNCE_QUEUE_URL": "DeadLetterQueue"}

// localOnly are the variables the template declares, empty, only so that `sam local
// invoke --env-vars events/env.json` can set them (SAM overrides declared variables only).
var localOnly = map[string]bool{"AWS_ENDPOINT_URL": true, "LOG_LEVEL": true}

// options are the settings that decide optional AWS calls (source discovery, exemption
// tags, re-pointing topics), each on in one variant and off in the other.
var options = []map[string]string{
	{"DiscoverSources": "true", "ExemptTagKey": "snskeyguard:exempt", "RemediationKeyId": ""},
	{"DiscoverSources": "false", "ExemptTagKey": "", "RemediationKeyId": "alias/sns-remediation",
		"AlertTopicKeyArn": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
}

// configs are the parameter combinations that change what the stack creates or grants.
func configs() []map[string]string {
	var out []map[string]string
	for i, deployment := range []string{"account", "organization"} {
		for _, mode := range []string{"alert", "remediate"} {
			for _, hub := range []string{"false", "true"} {
				for _, role := range []string{"", "snskeyguard-member"} {
					if deployment == "organization" && role == "" {
						continue // refused by the template's Rules (TestOrganizationModeRules)
					}
					for _, topic := range []string{"", "arn:aws:sns:us-east-1:111122223333:ops-alerts"} {
						for _, rule := range []string{"true", "false"} {
							cfg := map[string]string{"Mode": mode, "SecurityHub": hub,
								"CrossAccountRoleName": role, "AlertTopicArn": topic, "EnableConfigRule": rule,
								"AlertEmail": "secops@example.com", "DeploymentMode": deployment}
							if deployment == "organization" {
								maps.Copy(cfg, orgSettings)
							}
							maps.Copy(cfg, options[(i+len(out))%len(options)])
							out = append(out, cfg)
						}
					}
				}
			}
		}
	}
	return out
}

// What each role may do is derived from the code, not written here: guard.Settings.Needs
// lists the AWS calls (Account methods) each entry point can make with the settings the
// template gives it, and awsedge.Permissions maps each method to the IAM actions of its calls
// (a test there checks that against the source). runtimeActions are the rest: Lambda's logs,
// X-Ray, the dead-letter destination and the keys of the queue and the alert topic.
var (
	runtimeActions = []string{"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments",
		"xray:PutTelemetryRecords", "sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"}
	entries = map[string]string{
		"TopicGuardFunction": guard.EntryTopicGuard,
		"KeyGuardFunction":   guard.EntryKeyGuard,
		"ConfigRuleFunction": guard.EntryConfigRule,
	}
	// APIs that take no resource ARN, the only ones allowed on Resource "*" (the Service
	// Authorization Reference lists no resource type for them; AWS Config:
	// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsconfig.html).
	unscopedActions = []string{"kms:ListAliases", "cloudwatch:DescribeAlarms", "events:ListEventBuses", "events:ListRules",
		"sns:ListTopics", "config:SelectResourceConfig", "config:BatchGetResourceConfig", "config:PutEvaluations",
		"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
)

// guardSettings are the settings the template gives the functions with these parameters.
func guardSettings(p map[string]string) guard.Settings {
	return guard.Settings{
		Mode:            p["Mode"],
		DiscoverSources: p["DiscoverSources"] == "true",
		// The stack's own topic when AlertTopicArn is empty: alerts always have a topic.
		AlertTopicARN:        "arn:aws:sns:us-east-1:111122223333:alerts",
		RemediationKeyID:     p["RemediationKeyId"],
		ExemptTagKey:         p["ExemptTagKey"],
		CrossAccountRoleName: p["CrossAccountRoleName"],
		SecurityHub:          p["SecurityHub"] == "true",
		// Always the stack's dead-letter queue (resourceSettings).
		AnnounceQueueURL: "https://sqs.us-east-1.amazonaws.com/111122223333/snskeyguard-dead-letters",
	}
}

// wantActions is every action function id's role must grant, and nothing else.
func wantActions(id string, p map[string]string) []string {
	in, central := guardSettings(p).Needs(entries[id])
	methods := slices.Concat(in, central)
	if p["CrossAccountRoleName"] != "" {
		methods = append(methods, "Account") // clients in other accounts assume the role
	}
	want := slices.Concat(runtimeActions, awsedge.Actions(methods...))
	slices.Sort(want)
	return slices.Compact(want)
}

// memberActions is what the member role must grant: every function's calls in the event's
// account (alerts, logs, tracing and dead letters stay central).
func memberActions(p map[string]string) []string {
	var want []string
	for _, id := range sortedKeys(entries) {
		in, _ := guardSettings(p).Needs(entries[id])
		want = append(want, awsedge.Actions(in...)...)
	}
	slices.Sort(want)
	return slices.Compact(want)
}

// statement is one IAM statement and where it came from.
type statement struct {
	from string
	body map[string]any
}

// roleStatements collects the identity statements a role gets: its inline policies
// and every AWS::IAM::Policy or ManagedPolicy of the stack attached to it.
func roleStatements(t *testing.T, res map[string]map[string]any, role string) []statement {
	t.Helper()
	r := res[role]
	if r["Type"] != "AWS::IAM::Role" {
		t.Fatalf("%s is not an AWS::IAM::Role in this stack", role)
	}
	props := obj(r["Properties"])
	if m, ok := props["ManagedPolicyArns"]; ok {
		t.Errorf("%s attaches managed policies %s: their actions cannot be checked here", role, jsonOf(m))
	}
	var out []statement
	add := func(from string, doc any) {
		for _, st := range list(obj(doc)["Statement"]) {
			out = append(out, statement{from, obj(st)})
		}
	}
	for _, p := range list(props["Policies"]) {
		add(role+"/"+scalar(obj(p)["PolicyName"]), obj(p)["PolicyDocument"])
	}
	for _, id := range sortedKeys(res) {
		typ := res[id]["Type"]
		if typ != "AWS::IAM::Policy" && typ != "AWS::IAM::ManagedPolicy" {
			continue
		}
		p := obj(res[id]["Properties"])
		if slices.ContainsFunc(list(p["Roles"]), func(v any) bool { return refersTo(v, role) }) {
			add(id, p["PolicyDocument"])
		}
	}
	return out
}

func TestIAMGrantsOnlyTheAllowListAndWritesOnlyInRemediate(t *testing.T) {
	tpl := rawTemplate(t)
	for _, cfg := range configs() {
		s := newStack(t, tpl, cfg)
		res := s.resources(t)
		roles := map[string]string{}
		for _, id := range sortedKeys(functions) {
			role, attr, ok := getAtt(obj(res[id]["Properties"])["Role"])
			if !ok || attr != "Arn" {
				t.Fatalf("%s: Role must be the Arn of a role in this stack", id)
			}
			if other, dup := roles[role]; dup {
				t.Errorf("%s shares role %s with %s: each function gets its own least privilege", id, role, other)
			}
			roles[role] = id
			trust := list(obj(obj(res[role]["Properties"])["AssumeRolePolicyDocument"])["Statement"])
			if jsonOf(trust) != `[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"}}]` {
				t.Errorf("%s trust policy %s, want only lambda.amazonaws.com", role, jsonOf(trust))
			}
			granted := map[string]bool{}
			for _, st := range roleStatements(t, res, role) {
				if st.body["Effect"] != "Allow" {
					t.Errorf("%s: statement with Effect %v", st.from, st.body["Effect"])
				}
				for _, k := range []string{"NotAction", "NotResource", "Principal", "NotPrincipal"} {
					if _, ok := st.body[k]; ok {
						t.Errorf("%s: identity statement uses %s", st.from, k)
					}
				}
				for _, a := range list(st.body["Action"]) {
					action := scalar(a)
					if strings.ContainsAny(action, "*?") {
						t.Errorf("%s grants wildcard action %q", st.from, action)
					}
					granted[action] = true
					checkResource(t, s, res, id, st, action)
					checkCondition(t, s, st, action)
				}
			}
			if got, want := sortedKeys(granted), wantActions(id, s.params); !slices.Equal(got, want) {
				t.Errorf("%s with %v grants\n %v\nwant\n %v", id, cfg, got, want)
			}
		}
	}
}

// checkResource holds every action to the narrowest resource its API accepts.
func checkResource(t *testing.T, s *stack, res map[string]map[string]any, fn string, st statement, action string) {
	t.Helper()
	resources := list(st.body["Resource"])
	if len(resources) != 1 {
		t.Errorf("%s: %s must name exactly one resource, got %s", st.from, action, jsonOf(resources))
		return
	}
	r := resources[0]
	sub := func(want string) bool { return jsonOf(r) == jsonOf(map[string]any{"Fn::Sub": want}) }
	var ok bool
	switch {
	case r == "*":
		ok = slices.Contains(unscopedActions, action)
	case action == "sns:Publish":
		if arn := s.params["AlertTopicArn"]; arn != "" {
			ok = r == arn
		} else {
			ok = refersTo(r, "AlertTopic")
		}
	case action == "sqs:SendMessage":
		ok = refersTo(r, "DeadLetterQueue")
	case action == "kms:GenerateDataKey" || action == "kms:Decrypt":
		ok = refersTo(r, "AlertKey") || (s.params["AlertTopicKeyArn"] != "" && r == s.params["AlertTopicKeyArn"])
	case strings.HasPrefix(action, "kms:"):
		ok = sub("arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*")
	case strings.HasPrefix(action, "sns:"):
		ok = sub("arn:${AWS::Partition}:sns:*:${AWS::AccountId}:*")
	case action == "events:ListTargetsByRule":
		ok = sub("arn:${AWS::Partition}:events:*:${AWS::AccountId}:rule/*")
	case action == "lambda:InvokeFunction":
		// Only the function itself (a sweep continues in a new invocation);
		// by name, since naming its ARN attribute would make the role depend
		// on the function that depends on the role.
		ok = fn == "ConfigRuleFunction" && sub("arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-config-rule")
	case action == "securityhub:BatchImportFindings" && fn == "":
		// The member role is global; it imports in the region of each finding's resource.
		ok = sub("arn:${AWS::Partition}:securityhub:*:${AWS::AccountId}:product/${AWS::AccountId}/default")
	case action == "securityhub:BatchImportFindings":
		ok = sub("arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default")
	case action == "sts:AssumeRole":
		ok = sub("arn:${AWS::Partition}:iam::*:role/${CrossAccountRoleName}")
	case strings.HasPrefix(action, "logs:"):
		// Only the function's own log group, whose name Lambda derives from the
		// function name.
		group, _, isAtt := getAtt(r)
		name := obj(res[fn]["Properties"])["FunctionName"]
		ok = isAtt && res[group]["Type"] == "AWS::Logs::LogGroup" &&
			jsonOf(obj(res[group]["Properties"])["LogGroupName"]) ==
				jsonOf(map[string]any{"Fn::Sub": "/aws/lambda/" + scalar(obj(name)["Fn::Sub"])})
	}
	if !ok {
		t.Errorf("%s: %s on resource %s is broader than needed (or wrong)", st.from, action, jsonOf(r))
	}
}

// checkCondition holds the conditions an identity statement may carry: none, except where a
// condition narrows it (never one that would widen it).
func checkCondition(t *testing.T, s *stack, st statement, action string) {
	t.Helper()
	got := jsonOf(st.body["Condition"])
	want := "null"
	switch {
	case action == "kms:PutKeyPolicy":
		// Never with the lockout safety check bypassed; the SDK omits the flag when false.
		want = `{"BoolIfExists":{"kms:BypassPolicyLockoutSafetyCheck":"false"}}`
	case action == "sts:AssumeRole":
		return // TestCentralAssumeRoleStaysInTheOrganization
	case (action == "kms:GenerateDataKey" || action == "kms:Decrypt") && s.params["AlertTopicKeyArn"] != "" &&
		jsonOf(st.body["Resource"]) == jsonOf(s.params["AlertTopicKeyArn"]):
		want = `{"StringLike":{"kms:ViaService":"sns.*.amazonaws.com"}}`
	}
	if got != want {
		t.Errorf("%s: %s condition %s, want %s", st.from, action, got, want)
	}
}

// resourcePolicies returns the key, queue and topic policies of the stack.
func resourcePolicies(res map[string]map[string]any) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for id, r := range res {
		p := obj(r["Properties"])
		var doc any
		switch r["Type"] {
		case "AWS::KMS::Key":
			doc = p["KeyPolicy"]
		case "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy":
			doc = p["PolicyDocument"]
		default:
			continue
		}
		for _, st := range list(obj(doc)["Statement"]) {
			out[id] = append(out[id], obj(st))
		}
	}
	return out
}

func TestResourcePoliciesGrantNoWildcardActionsButTheRootDelegation(t *testing.T) {
	tpl := rawTemplate(t)
	s := newStack(t, tpl, nil)
	root := map[string]any{"AWS": map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
	delegations := 0
	for id, sts := range resourcePolicies(s.resources(t)) {
		for _, st := range sts {
			if _, ok := st["NotAction"]; ok {
				t.Errorf("%s %v: NotAction", id, st["Sid"])
			}
			for _, a := range list(st["Action"]) {
				if !strings.ContainsAny(scalar(a), "*?") {
					continue
				}
				// The key policy must keep IAM in charge of the key (the console's
				// default statement): kms:* for the account root, unconditioned.
				if id == "AlertKey" && a == "kms:*" && jsonOf(st["Principal"]) == jsonOf(root) && st["Condition"] == nil {
					delegations++
					continue
				}
				t.Errorf("%s %v grants wildcard action %q", id, st["Sid"], a)
			}
		}
	}
	if delegations != 1 {
		t.Errorf("AlertKey has %d root delegation statements, want 1", delegations)
	}
}

func TestStoredDataIsEncryptedWithTheStackKey(t *testing.T) {
	s := newStack(t, rawTemplate(t), nil)
	res := s.resources(t)
	key := obj(res["AlertKey"]["Properties"])
	if res["AlertKey"]["Type"] != "AWS::KMS::Key" {
		t.Fatalf("AlertKey missing")
	}
	for k, want := range map[string]any{"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT", "EnableKeyRotation": true} {
		if key[k] != want {
			t.Errorf("AlertKey %s = %v, want %v", k, key[k], want)
		}
	}
	if p := obj(res["AlertKeyAlias"]["Properties"]); !refersTo(p["TargetKeyId"], "AlertKey") {
		t.Errorf("AlertKeyAlias targets %s, want AlertKey", jsonOf(p["TargetKeyId"]))
	}
	if got := obj(res["AlertTopic"]["Properties"])["KmsMasterKeyId"]; !refersTo(got, "AlertKey") {
		t.Errorf("AlertTopic KmsMasterKeyId = %s, want the stack's AlertKey", jsonOf(got))
	}
	q := obj(res["DeadLetterQueue"]["Properties"])
	if !refersTo(q["KmsMasterKeyId"], "AlertKey") {
		t.Errorf("DeadLetterQueue KmsMasterKeyId = %s, want the stack's AlertKey (SqsManagedSseEnabled is not KMS)", jsonOf(q["KmsMasterKeyId"]))
	}
	if v, ok := q["SqsManagedSseEnabled"]; ok {
		t.Errorf("DeadLetterQueue sets SqsManagedSseEnabled=%v", v)
	}
	// Service grants in the key policy follow docs/DESIGN.md: both confused-deputy
	// conditions, except for EventBridge which must have neither.
	services := map[string]bool{}
	for _, st := range resourcePolicies(res)["AlertKey"] {
		svc := scalar(obj(st["Principal"])["Service"])
		if svc == "" || svc == "<nil>" {
			continue
		}
		services[svc] = true
		keys := map[string]bool{}
		for op, kv := range obj(st["Condition"]) {
			for k := range obj(kv) {
				if !strings.HasSuffix(strings.ToLower(op), "ifexists") && !strings.HasPrefix(op, "StringNot") && !strings.HasPrefix(op, "ArnNot") {
					keys[strings.ToLower(k)] = true
				}
			}
		}
		has := keys["aws:sourceaccount"] && keys["aws:sourcearn"]
		if svc == "events.amazonaws.com" && (keys["aws:sourceaccount"] || keys["aws:sourcearn"]) {
			t.Errorf("AlertKey %v: EventBridge grant carries aws:Source* conditions; its deliveries would fail", st["Sid"])
		}
		if svc != "events.amazonaws.com" && !has {
			t.Errorf("AlertKey %v: grant to %s lacks aws:SourceAccount and aws:SourceArn", st["Sid"], svc)
		}
	}
	if got := sortedKeys(services); !slices.Equal(got, []string{"cloudwatch.amazonaws.com", "events.amazonaws.com"}) {
		t.Errorf("AlertKey grants services %v", got)
	}
}

// ebEvents returns the EventBridge events of a resolved function, by name.
func ebEvents(fn map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for name, e := range obj(obj(fn["Properties"])["Events"]) {
		if typ := obj(e)["Type"]; typ == "EventBridgeRule" || typ == "CloudWatchEvent" {
			out[name] = obj(obj(e)["Properties"])
		}
	}
	return out
}

func TestNothingIsLost(t *testing.T) {
	s := newStack(t, rawTemplate(t), nil)
	res := s.resources(t)
	var ruleARNs []string
	for _, id := range sortedKeys(functions) {
		p := obj(res[id]["Properties"])
		onFailure := obj(obj(obj(p["EventInvokeConfig"])["DestinationConfig"])["OnFailure"])
		if onFailure["Type"] != "SQS" || !refersTo(onFailure["Destination"], "DeadLetterQueue") {
			t.Errorf("%s: failed invocations must go to DeadLetterQueue, got %s", id, jsonOf(onFailure))
		}
		for name, e := range ebEvents(res[id]) {
			rp := obj(e["RetryPolicy"])
			n, _ := rp["MaximumRetryAttempts"].(float64)
			age, _ := rp["MaximumEventAgeInSeconds"].(float64)
			if n < 1 || n > 185 || age < 60 || age > 86400 {
				t.Errorf("%s/%s RetryPolicy %s out of EventBridge's range or missing", id, name, jsonOf(rp))
			}
			if !refersTo(obj(e["DeadLetterConfig"])["Arn"], "DeadLetterQueue") {
				t.Errorf("%s/%s DeadLetterConfig %s, want DeadLetterQueue", id, name, jsonOf(e["DeadLetterConfig"]))
			}
			ruleARNs = append(ruleARNs, jsonOf(map[string]any{"Fn::GetAtt": id + name + ".Arn"}))
		}
	}
	// EventBridge may send to the queue only for our own rules (SAM names the rule
	// it generates <function><event>).
	var allowed []string
	for _, st := range resourcePolicies(res)["DeadLetterQueuePolicy"] {
		if st["Effect"] != "Allow" {
			continue
		}
		if jsonOf(st["Principal"]) != `{"Service":"events.amazonaws.com"}` || st["Action"] != "sqs:SendMessage" || !refersTo(st["Resource"], "DeadLetterQueue") {
			t.Errorf("queue policy statement %v grants more than events.amazonaws.com sqs:SendMessage", st["Sid"])
		}
		for _, a := range list(obj(obj(st["Condition"])["ArnEquals"])["aws:SourceArn"]) {
			allowed = append(allowed, jsonOf(a))
		}
	}
	slices.Sort(allowed)
	slices.Sort(ruleARNs)
	if !slices.Equal(allowed, ruleARNs) {
		t.Errorf("queue policy aws:SourceArn %v, want the rules %v", allowed, ruleARNs)
	}
	if len(ruleARNs) != 2 {
		t.Errorf("want 2 EventBridge rules, got %v", ruleARNs)
	}
}

func TestConfigRule(t *testing.T) {
	tpl := rawTemplate(t)
	off := newStack(t, tpl, map[string]string{"EnableConfigRule": "false"}).resources(t)
	if _, ok := off["ConfigRule"]; ok {
		t.Errorf("ConfigRule created with EnableConfigRule=false")
	}
	if _, ok := off["ConfigRulePermission"]; ok {
		t.Errorf("ConfigRulePermission created with EnableConfigRule=false")
	}
	res := newStack(t, tpl, map[string]string{"EnableConfigRule": "true", "ConfigRuleFrequency": "Six_Hours"}).resources(t)
	rule := obj(res["ConfigRule"]["Properties"])
	if got := jsonOf(obj(rule["Scope"])); got != `{"ComplianceResourceTypes":["AWS::SNS::Topic"]}` {
		t.Errorf("ConfigRule scope %s", got)
	}
	src := obj(rule["Source"])
	if src["Owner"] != "CUSTOM_LAMBDA" || !refersTo(src["SourceIdentifier"], "ConfigRuleFunction") {
		t.Errorf("ConfigRule source %s, want CUSTOM_LAMBDA on ConfigRuleFunction", jsonOf(src))
	}
	want := `[{"EventSource":"aws.config","MessageType":"ConfigurationItemChangeNotification"},` +
		`{"EventSource":"aws.config","MessageType":"OversizedConfigurationItemChangeNotification"},` +
		`{"EventSource":"aws.config","MaximumExecutionFrequency":"Six_Hours","MessageType":"ScheduledNotification"}]`
	if got := jsonOf(src["SourceDetails"]); got != want {
		t.Errorf("ConfigRule SourceDetails\n %s\nwant\n %s", got, want)
	}
	perm := obj(res["ConfigRulePermission"]["Properties"])
	if perm["Principal"] != "config.amazonaws.com" || perm["Action"] != "lambda:InvokeFunction" ||
		!refersTo(perm["FunctionName"], "ConfigRuleFunction") || jsonOf(perm["SourceAccount"]) != `{"Ref":"AWS::AccountId"}` {
		t.Errorf("ConfigRulePermission %s", jsonOf(perm))
	}
	// Every Config sample must be a message type the rule subscribes to.
	types := map[string]bool{}
	for _, d := range list(src["SourceDetails"]) {
		types[scalar(obj(d)["MessageType"])] = true
	}
	samples := globSamples(t, "testdata/config-*.json", filepath.Join(root, "events", "config-rule-*.json"))
	seen := 0
	for _, path := range samples {
		var ev struct {
			InvokingEvent string `json:"invokingEvent"`
		}
		readJSON(t, path, &ev)
		var inv struct {
			MessageType string `json:"messageType"`
		}
		if err := json.Unmarshal([]byte(ev.InvokingEvent), &inv); err != nil {
			continue // a malformed sample belongs to the function's tests
		}
		seen++
		if !types[inv.MessageType] {
			t.Errorf("%s: message type %q is not delivered by the rule", path, inv.MessageType)
		}
	}
	if seen < 3 {
		t.Errorf("only %d Config samples checked", seen)
	}
}

func TestOutputs(t *testing.T) {
	tpl := rawTemplate(t)
	org := maps.Clone(orgSettings)
	org["EnableConfigRule"] = "true"
	for _, cfg := range []map[string]string{{"EnableConfigRule": "true"}, {"EnableConfigRule": "false", "AlertTopicArn": "arn:aws:sns:us-east-1:111122223333:ops"}, org} {
		s := newStack(t, tpl, cfg)
		out := map[string]any{}
		for name, o := range obj(tpl["Outputs"]) {
			if c, ok := obj(o)["Condition"]; ok && !s.cond(scalar(c)) {
				continue
			}
			v, _ := s.eval(obj(o)["Value"])
			out[name] = v
		}
		s.check(t)
		want := map[string]string{
			"TopicGuardFunctionArn": `{"Fn::GetAtt":"TopicGuardFunction.Arn"}`,
			"KeyGuardFunctionArn":   `{"Fn::GetAtt":"KeyGuardFunction.Arn"}`,
			"ConfigRuleFunctionArn": `{"Fn::GetAtt":"ConfigRuleFunction.Arn"}`,
			"AlertKeyArn":           `{"Fn::GetAtt":"AlertKey.Arn"}`,
			"DeadLetterQueueUrl":    `{"Ref":"DeadLetterQueue"}`,
			"AlertTopicArn":         `{"Ref":"AlertTopic"}`,
		}
		if arn := cfg["AlertTopicArn"]; arn != "" {
			want["AlertTopicArn"] = jsonOf(arn)
		}
		switch {
		case cfg["DeploymentMode"] == "organization":
			want["OrganizationConfigRuleName"] = `{"Ref":"OrganizationConfigRule"}`
			want["MemberStackSetId"] = `{"Ref":"MemberStackSet"}`
		case cfg["EnableConfigRule"] == "true":
			want["ConfigRuleName"] = `{"Ref":"ConfigRule"}`
		}
		if got := sortedKeys(out); !slices.Equal(got, sortedKeys(want)) {
			t.Errorf("%v: outputs %v, want %v", cfg, got, sortedKeys(want))
		}
		for name, w := range want {
			if got := jsonOf(out[name]); got != w {
				t.Errorf("%v: output %s = %s, want %s", cfg, name, got, w)
			}
		}
	}
}

var pseudo = regexp.MustCompile(`^AWS::`)
var subVar = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

// TestReferencesResolve is cfn-lint's reference check for every configuration:
// a Ref, GetAtt, Sub variable or DependsOn must name a parameter, a pseudo parameter,
// a resource this configuration creates, or a rule SAM generates from an event.
func TestReferencesResolve(t *testing.T) {
	tpl := rawTemplate(t)
	for _, cfg := range configs() {
		s := newStack(t, tpl, cfg)
		res := s.resources(t)
		known := map[string]bool{}
		for id := range res {
			known[id] = true
			for name := range ebEvents(res[id]) {
				known[id+name] = true
			}
		}
		for name := range obj(tpl["Parameters"]) {
			known[name] = true
		}
		var bad []string
		var walk func(where string, v any)
		walk = func(where string, v any) {
			if r, ok := ref(v); ok && !pseudo.MatchString(r) && !known[r] {
				bad = append(bad, where+": Ref "+r)
			}
			if id, _, ok := getAtt(v); ok && !known[id] {
				bad = append(bad, where+": GetAtt "+id)
			}
			if sub, ok := obj(v)["Fn::Sub"].(string); ok {
				for _, m := range subVar.FindAllStringSubmatch(sub, -1) {
					name, _, _ := strings.Cut(m[1], ".")
					if !pseudo.MatchString(name) && !known[name] {
						bad = append(bad, where+": Sub ${"+m[1]+"}")
					}
				}
			}
			switch x := v.(type) {
			case map[string]any:
				for _, k := range sortedKeys(x) {
					walk(where, x[k])
				}
			case []any:
				for _, e := range x {
					walk(where, e)
				}
			}
		}
		for _, id := range sortedKeys(res) {
			walk(id, res[id]["Properties"])
			for _, d := range list(res[id]["DependsOn"]) {
				if !known[scalar(d)] {
					bad = append(bad, id+": DependsOn "+scalar(d))
				}
			}
		}
		walk("Globals", s.globalFunction())
		for name, o := range obj(tpl["Outputs"]) {
			if c, ok := obj(o)["Condition"]; ok && !s.cond(scalar(c)) {
				continue
			}
			v, _ := s.eval(obj(o)["Value"])
			walk("Outputs."+name, v)
		}
		s.check(t)
		if len(bad) > 0 {
			t.Errorf("%v: dangling references: %v", cfg, bad)
		}
	}
}

// handled is the independent statement of which events a function must get
// (docs/DESIGN.md, "Entry points"): successful CloudTrail calls with these names.
var handled = map[string]struct {
	event, source, eventSource string
	names                      []string
}{
	"TopicGuardFunction": {"TopicChanges", "aws.sns", "sns.amazonaws.com", []string{"CreateTopic", "SetTopicAttributes"}},
	"KeyGuardFunction": {"KeyChanges", "aws.kms", "kms.amazonaws.com", []string{"PutKeyPolicy", "DisableKey",
		"EnableKey", "ScheduleKeyDeletion", "CancelKeyDeletion", "CreateAlias", "DeleteAlias", "UpdateAlias"}},
}

func shouldHandle(fn string, ev map[string]any) bool {
	h := handled[fn]
	d := obj(ev["detail"])
	_, failed := d["errorCode"]
	return ev["source"] == h.source && ev["detail-type"] == "AWS API Call via CloudTrail" &&
		d["eventSource"] == h.eventSource && slices.Contains(h.names, scalar(d["eventName"])) && !failed
}

func TestRulesMatchExactlyTheSuccessfulCallsTheFunctionsHandle(t *testing.T) {
	res := newStack(t, rawTemplate(t), nil).resources(t)
	samples := globSamples(t, "testdata/eventbridge-*.json", filepath.Join(root, "events", "*.json"))
	if n := len(ebEvents(res["ConfigRuleFunction"])); n != 0 {
		t.Errorf("ConfigRuleFunction has %d EventBridge events; AWS Config invokes it", n)
	}
	for _, fn := range sortedKeys(handled) {
		h := handled[fn]
		evs := ebEvents(res[fn])
		if got := sortedKeys(evs); !slices.Equal(got, []string{h.event}) {
			t.Errorf("%s EventBridge events %v, want [%s]", fn, got, h.event)
			continue
		}
		pattern := evs[h.event]["Pattern"]
		match := func(ev map[string]any) bool {
			m, err := matchPattern(pattern, ev)
			if err != nil {
				t.Fatalf("%s pattern: %v", fn, err)
			}
			return m
		}
		positives := 0
		for _, path := range samples {
			var ev map[string]any
			readJSON(t, path, &ev)
			if _, isEB := ev["detail-type"]; !isEB {
				continue // env.json, Config events, ...
			}
			want := shouldHandle(fn, ev)
			if got := match(ev); got != want {
				t.Errorf("%s rule on %s: matched=%v, want %v", fn, filepath.Base(path), got, want)
			}
			if !want {
				continue
			}
			positives++
			// The same call, failed: CloudTrail records it with errorCode.
			failed := clone(t, ev)
			obj(failed["detail"])["errorCode"] = "AccessDenied"
			obj(failed["detail"])["errorMessage"] = "User is not authorized"
			if match(failed) {
				t.Errorf("%s rule matches a failed call (%s with errorCode)", fn, filepath.Base(path))
			}
			// Every handled name matches, and a name the function does not handle does not.
			for _, name := range append(slices.Clone(h.names), "DeleteTopic", "CreateKey", "TagResource") {
				ev2 := clone(t, ev)
				obj(ev2["detail"])["eventName"] = name
				if got, want := match(ev2), slices.Contains(h.names, name); got != want {
					t.Errorf("%s rule on %s renamed %s: matched=%v, want %v", fn, filepath.Base(path), name, got, want)
				}
			}
			other := clone(t, ev)
			other["source"] = "aws.ec2"
			obj(other["detail"])["eventSource"] = "ec2.amazonaws.com"
			if match(other) {
				t.Errorf("%s rule matches an EC2 event", fn)
			}
			notCloudTrail := clone(t, ev)
			notCloudTrail["detail-type"] = "AWS Service Event via CloudTrail"
			if match(notCloudTrail) {
				t.Errorf("%s rule matches a detail-type other than API calls", fn)
			}
		}
		if positives == 0 {
			t.Errorf("%s: no sample event exercises its rule", fn)
		}
		t.Logf("%s: %d matching samples of %d files", fn, positives, len(samples))
	}
}

func globSamples(t *testing.T, patterns ...string) []string {
	t.Helper()
	var out []string
	for _, p := range patterns {
		m, err := filepath.Glob(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	return out
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func clone(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(jsonOf(v)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// readSamconfig reads the subset of TOML that samconfig.toml uses: [a.b.c] tables
// of key = value lines, values being strings, booleans or numbers.
func readSamconfig(t *testing.T) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]string{"": {}}
	table := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			table = strings.Trim(line, "[]")
			out[table] = map[string]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("samconfig.toml: cannot read %q", line)
			}
			v = strings.TrimSpace(v)
			if strings.HasPrefix(v, `"`) {
				if err := json.Unmarshal([]byte(v), &v); err != nil {
					t.Fatalf("samconfig.toml: %q: %v", line, err)
				}
			}
			out[table][strings.TrimSpace(k)] = v
		}
	}
	return out
}

func TestSamconfig(t *testing.T) {
	cfg := readSamconfig(t)
	want := map[string]map[string]string{
		"":                            {"version": "0.1"},
		"default.global.parameters":   {"stack_name": "snskeyguard"},
		"default.build.parameters":    {"cached": "true", "parallel": "true"},
		"default.validate.parameters": {"lint": "true"},
		"default.deploy.parameters": {"stack_name": "snskeyguard", "capabilities": "CAPABILITY_NAMED_IAM",
			"resolve_s3": "true", "s3_prefix": "snskeyguard", "confirm_changeset": "true", "parameter_overrides": `Mode="alert"`},
		"default.local_invoke.parameters": {"env_vars": "events/env.json"},
	}
	if got := jsonOf(cfg); got != jsonOf(want) {
		t.Errorf("samconfig.toml\n %s\nwant\n %s", got, jsonOf(want))
	}
	// The overrides must name parameters with allowed values; newStack checks both.
	overrides := map[string]string{}
	for _, kv := range strings.Fields(cfg["default.deploy.parameters"]["parameter_overrides"]) {
		k, v, _ := strings.Cut(kv, "=")
		overrides[k] = strings.Trim(v, `"`)
	}
	newStack(t, rawTemplate(t), overrides)
}

// TestLocalInvokeEnvVars checks the file samconfig.toml hands to `sam local invoke
// --env-vars`: SAM reads per-function sections (or "Parameters" for all) and only
// overrides variables the template declares, silently dropping the rest.
func TestLocalInvokeEnvVars(t *testing.T) {
	var env map[string]map[string]any
	readJSON(t, filepath.Join(root, "events", "env.json"), &env)
	for section, vars := range env {
		if _, ok := functions[section]; !ok && section != "Parameters" {
			t.Errorf("events/env.json section %q is neither a function nor Parameters", section)
		}
		for k, v := range vars {
			if _, ok := v.(string); !ok {
				t.Errorf("events/env.json %s.%s must be a string, got %T", section, k, v)
			}
			if _, ok := settings[k]; !ok && !localOnly[k] && resourceSettings[k] == "" {
				t.Errorf("events/env.json %s.%s is not declared in template.yaml: sam local invoke would ignore it", section, k)
			}
		}
	}
}

// TestAnnounceQueueIsUsableByEveryFixingRole: the queue ANNOUNCE_QUEUE_URL names is the one
// each remediating role may send to (the action itself comes from Settings.Needs: Enqueue), and
// since that queue is encrypted with a customer managed key, each role may also use that key
// for it as a producer must (kms:GenerateDataKey and kms:Decrypt,
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html):
// granted on that key only, and allowed by the key policy only through SQS (and SNS).
func TestAnnounceQueueIsUsableByEveryFixingRole(t *testing.T) {
	s := newStack(t, rawTemplate(t), map[string]string{"Mode": "remediate"})
	res := s.resources(t)
	queue := resourceSettings["ANNOUNCE_QUEUE_URL"]
	if res[queue]["Type"] != "AWS::SQS::Queue" {
		t.Fatalf("ANNOUNCE_QUEUE_URL names %s, not a queue of the stack", queue)
	}
	key, attr, ok := getAtt(obj(res[queue]["Properties"])["KmsMasterKeyId"])
	if !ok || attr != "Arn" || res[key]["Type"] != "AWS::KMS::Key" {
		t.Fatalf("the announcement queue is not encrypted with a key of the stack: %s", jsonOf(obj(res[queue]["Properties"])["KmsMasterKeyId"]))
	}
	for _, id := range sortedKeys(functions) {
		in, central := guardSettings(s.params).Needs(entries[id])
		if !slices.Contains(central, "Enqueue") || slices.Contains(in, "Enqueue") {
			t.Fatalf("%s: Needs does not make it queue centrally (in %v, central %v)", id, in, central)
		}
		role, _, _ := getAtt(obj(res[id]["Properties"])["Role"])
		granted := map[string]bool{}
		for _, st := range roleStatements(t, res, role) {
			r := list(st.body["Resource"])
			for _, a := range list(st.body["Action"]) {
				switch action := scalar(a); {
				case action == "sqs:SendMessage" && len(r) == 1 && refersTo(r[0], queue):
					granted[action] = true
				case (action == "kms:GenerateDataKey" || action == "kms:Decrypt") && len(r) == 1 && refersTo(r[0], key):
					granted[action] = true
				}
			}
		}
		for _, a := range []string{"sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"} {
			if !granted[a] {
				t.Errorf("%s: role %s lacks %s on the announcement queue (or its key)", id, role, a)
			}
		}
		// The key policy lets the role use the key through SQS.
		found := false
		for _, st := range list(obj(obj(res[key]["Properties"])["KeyPolicy"])["Statement"]) {
			c := obj(obj(st)["Condition"])
			roles := jsonOf(obj(c["ArnEquals"])["aws:PrincipalArn"])
			via := jsonOf(obj(c["StringEquals"])["kms:ViaService"])
			found = found || (strings.Contains(roles, `"`+role+`.Arn"`) && strings.Contains(via, "sqs.${AWS::Region}.amazonaws.com"))
		}
		if !found {
			t.Errorf("%s: the key policy of %s does not let role %s use it through SQS", id, key, role)
		}
	}
}

// TestDeadLetterQueueIsWatched: whatever lands in the dead-letter queue (an event, a failed
// invocation, an announcement the alert topic did not take) raises an alarm that notifies
// the alert topic, from the first message.
func TestDeadLetterQueueIsWatched(t *testing.T) {
	for _, p := range []map[string]string{nil, {"AlertTopicArn": "arn:aws:sns:us-east-1:111122223333:ops"}} {
		res := newStack(t, rawTemplate(t), p).resources(t)
		found := false
		for _, id := range sortedKeys(res) {
			r := res[id]
			props := obj(r["Properties"])
			dims := list(props["Dimensions"])
			if r["Type"] != "AWS::CloudWatch::Alarm" || len(dims) != 1 {
				continue
			}
			q, attr, _ := getAtt(obj(dims[0])["Value"])
			if q != resourceSettings["ANNOUNCE_QUEUE_URL"] || attr != "QueueName" {
				continue
			}
			found = true
			actions := list(props["AlarmActions"])
			want := any(map[string]any{"Ref": "AlertTopic"})
			if p != nil {
				want = p["AlertTopicArn"]
			}
			if props["Namespace"] != "AWS/SQS" || props["MetricName"] != "ApproximateNumberOfMessagesVisible" ||
				scalar(props["Threshold"]) != "0" || props["ComparisonOperator"] != "GreaterThanThreshold" ||
				len(actions) != 1 || jsonOf(actions[0]) != jsonOf(want) {
				t.Errorf("%v: alarm %s %s: want one visible message to notify the alert topic", p, id, jsonOf(props))
			}
		}
		if !found {
			t.Errorf("%v: no alarm watches the dead-letter queue", p)
		}
	}
}
