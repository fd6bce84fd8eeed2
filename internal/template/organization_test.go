package template

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/intrinsics"
)

// orgSettings are the values an organization deployment must give (the template's
// Rules refuse it otherwise).
var orgSettings = map[string]string{
	"DeploymentMode":        "organization",
	"OrganizationId":        "o-a1b2c3d4e5",
	"OrganizationalUnitIds": "ou-ab12-cdef3456,ou-ab12-77778888",
	"CrossAccountRoleName":  "snskeyguard-member",
}

// orgResources are what organization mode adds; account mode must create none of them.
var orgResources = map[string]string{
	"OrganizationEventBusPolicy":       "AWS::Events::EventBusPolicy",
	"MemberStackSet":                   "AWS::CloudFormation::StackSet",
	"OrganizationConfigRulePermission": "AWS::Lambda::Permission",
	"OrganizationConfigRule":           "AWS::Config::OrganizationConfigRule",
}

func orgStack(t *testing.T, extra map[string]string) *stack {
	t.Helper()
	cfg := maps.Clone(orgSettings)
	maps.Copy(cfg, extra)
	return newStack(t, rawTemplate(t), cfg)
}

// ruleFailures evaluates the template's Rules section like CloudFormation does before
// it creates anything: for each rule whose RuleCondition holds, every failed Assert.
func ruleFailures(t *testing.T, s *stack) []string {
	t.Helper()
	var out []string
	for _, name := range sortedKeys(obj(s.tpl["Rules"])) {
		r := obj(obj(s.tpl["Rules"])[name])
		if c, ok := r["RuleCondition"]; ok && !s.condExpr(c) {
			continue
		}
		for _, a := range list(r["Assertions"]) {
			if !s.condExpr(obj(a)["Assert"]) {
				out = append(out, scalar(obj(a)["AssertDescription"]))
			}
		}
	}
	s.check(t)
	return out
}

func TestOrganizationModeRules(t *testing.T) {
	tpl := rawTemplate(t)
	if got := jsonOf(list(obj(obj(tpl["Parameters"])["DeploymentMode"])["AllowedValues"])); got != `["account","organization"]` {
		t.Errorf("DeploymentMode AllowedValues %s", got)
	}
	if got := newStack(t, tpl, nil).params["DeploymentMode"]; got != "account" {
		t.Errorf("DeploymentMode default %q, want account", got)
	}
	if got := ruleFailures(t, newStack(t, tpl, nil)); len(got) != 0 {
		t.Errorf("account mode with defaults refused: %v", got)
	}
	if got := ruleFailures(t, orgStack(t, nil)); len(got) != 0 {
		t.Errorf("complete organization settings refused: %v", got)
	}
	for _, missing := range []string{"OrganizationId", "OrganizationalUnitIds", "CrossAccountRoleName"} {
		got := ruleFailures(t, orgStack(t, map[string]string{missing: ""}))
		want := []string{"organization mode needs " + missing}
		if len(got) != 1 || !strings.HasPrefix(got[0], want[0]) {
			t.Errorf("organization mode without %s: rule failures %v, want %v", missing, got, want)
		}
	}
}

func TestOrganizationResourcesOnlyInOrganizationMode(t *testing.T) {
	tpl := rawTemplate(t)
	for _, cfg := range configs() {
		res := newStack(t, tpl, cfg).resources(t)
		org := cfg["DeploymentMode"] == "organization"
		for id, typ := range orgResources {
			r, ok := res[id]
			want := org && (cfg["EnableConfigRule"] == "true" || !strings.HasPrefix(id, "OrganizationConfigRule"))
			if ok != want {
				t.Errorf("%v: %s created=%v, want %v", cfg, id, ok, want)
			}
			if ok && r["Type"] != typ {
				t.Errorf("%s has type %v, want %s", id, r["Type"], typ)
			}
		}
		// One Config rule at most: the organization rule covers this account too.
		_, account := res["ConfigRule"]
		_, perm := res["ConfigRulePermission"]
		wantAccount := !org && cfg["EnableConfigRule"] == "true"
		if account != wantAccount || perm != wantAccount {
			t.Errorf("%v: account ConfigRule=%v permission=%v, want %v", cfg, account, perm, wantAccount)
		}
		for id, r := range res {
			if _, known := orgResources[id]; !known && (r["Type"] == "AWS::CloudFormation::StackSet" ||
				r["Type"] == "AWS::Events::EventBusPolicy" || r["Type"] == "AWS::Config::OrganizationConfigRule") {
				t.Errorf("unexpected organization resource %s", id)
			}
		}
	}
}

// TestCentralAssumeRoleStaysInTheOrganization: in organization mode the functions may
// assume CrossAccountRoleName only in accounts of the organization.
func TestCentralAssumeRoleStaysInTheOrganization(t *testing.T) {
	tpl := rawTemplate(t)
	for _, org := range []bool{false, true} {
		cfg := map[string]string{"CrossAccountRoleName": "snskeyguard-member"}
		if org {
			cfg = maps.Clone(orgSettings)
		}
		res := newStack(t, tpl, cfg).resources(t)
		for _, role := range []string{"TopicGuardRole", "KeyGuardRole", "ConfigRuleRole"} {
			n := 0
			for _, st := range roleStatements(t, res, role) {
				if !slices.Contains(list(st.body["Action"]), any("sts:AssumeRole")) {
					continue
				}
				n++
				want := "null"
				if org {
					want = `{"StringEquals":{"aws:ResourceOrgID":"o-a1b2c3d4e5"}}`
				}
				if got := jsonOf(st.body["Condition"]); got != want {
					t.Errorf("org=%v %s: sts:AssumeRole condition %s, want %s", org, st.from, got, want)
				}
			}
			if n != 1 {
				t.Errorf("org=%v %s: %d sts:AssumeRole statements, want 1", org, role, n)
			}
		}
	}
}

func TestOrganizationBusPolicyAcceptsOnlyTheOrganization(t *testing.T) {
	p := obj(orgStack(t, nil).resources(t)["OrganizationEventBusPolicy"]["Properties"])
	if p["EventBusName"] != "default" {
		// The functions' rules (SAM EventBridgeRule without EventBusName) live on the default bus.
		t.Errorf("EventBusName %v, want default", p["EventBusName"])
	}
	want := `{"Action":"events:PutEvents","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}},` +
		`"Effect":"Allow","Principal":"*","Resource":{"Fn::Sub":"arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"}}`
	if got := jsonOf(p["Statement"]); got != want {
		t.Errorf("bus policy statement\n %s\nwant\n %s", got, want)
	}
	for _, k := range []string{"Principal", "Action", "Condition"} {
		if _, ok := p[k]; ok {
			t.Errorf("bus policy uses the legacy %s property next to Statement", k)
		}
	}
}

func TestMemberStackSet(t *testing.T) {
	for _, c := range []struct {
		callAs, regions, wantRegions string
	}{
		{"SELF", "", `[{"Ref":"AWS::Region"}]`},
		{"DELEGATED_ADMIN", "us-east-1,eu-west-1", `["us-east-1","eu-west-1"]`},
	} {
		p := obj(orgStack(t, map[string]string{"StackSetCallAs": c.callAs, "StackSetRegions": c.regions}).resources(t)["MemberStackSet"]["Properties"])
		for k, want := range map[string]string{
			"PermissionModel": `"SERVICE_MANAGED"`,
			"CallAs":          jsonOf(c.callAs),
			"AutoDeployment":  `{"Enabled":true,"RetainStacksOnAccountRemoval":false}`,
			"Capabilities":    `["CAPABILITY_NAMED_IAM"]`,
			"StackInstancesGroup": `[{"DeploymentTargets":{"OrganizationalUnitIds":{"Fn::Split":[",","ou-ab12-cdef3456,ou-ab12-77778888"]}},` +
				`"Regions":` + c.wantRegions + `}]`,
		} {
			if got := jsonOf(p[k]); got != want {
				t.Errorf("CallAs=%s: StackSet %s = %s, want %s", c.callAs, k, got, want)
			}
		}
		params := map[string]string{}
		for _, kv := range list(p["Parameters"]) {
			params[scalar(obj(kv)["ParameterKey"])] = jsonOf(obj(kv)["ParameterValue"])
		}
		want := map[string]string{
			"CentralAccountId":   `{"Ref":"AWS::AccountId"}`,
			"CentralEventBusArn": `{"Fn::Sub":"arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"}`,
			// The central roles' names start with the stack name; the member role trusts them by name.
			"CentralRoleNamePrefix": `{"Ref":"AWS::StackName"}`,
			"OrganizationId":        `"o-a1b2c3d4e5"`,
			"RoleName":              `"snskeyguard-member"`,
			"RoleRegion":            `{"Ref":"AWS::Region"}`,
			"Mode":                  `"alert"`,
			"RemediationKeyId":      `""`,
			"DiscoverSources":       `"true"`,
			"ExemptTagKey":          `"snskeyguard:exempt"`,
			"SecurityHub":           `"false"`,
		}
		if jsonOf(params) != jsonOf(want) {
			t.Errorf("StackSet parameters\n %s\nwant\n %s", jsonOf(params), jsonOf(want))
		}
		// The body must be a literal: an Fn::Sub around it would eat the inner ${...}.
		if _, ok := p["TemplateBody"].(string); !ok {
			t.Errorf("TemplateBody is %T, want an inline string", p["TemplateBody"])
		}
	}
}

// memberTemplate parses the StackSet's TemplateBody as CloudFormation will.
func memberTemplate(t *testing.T) (map[string]any, map[string]string) {
	t.Helper()
	p := obj(orgStack(t, nil).resources(t)["MemberStackSet"]["Properties"])
	body, _ := p["TemplateBody"].(string)
	out, err := intrinsics.ProcessYAML([]byte(body), &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatalf("member template: %v", err)
	}
	var tpl map[string]any
	if err := json.Unmarshal(out, &tpl); err != nil {
		t.Fatalf("member template: %v", err)
	}
	passed := map[string]string{}
	for _, kv := range list(p["Parameters"]) {
		passed[scalar(obj(kv)["ParameterKey"])] = jsonOf(obj(kv)["ParameterValue"])
	}
	return tpl, passed
}

// memberValues are what the StackSet would pass, deployed from us-east-1 with the
// default settings and this mode.
func memberValues(mode string) map[string]string {
	return map[string]string{
		"CentralAccountId":      "111122223333",
		"CentralEventBusArn":    "arn:aws:events:us-east-1:111122223333:event-bus/default",
		"CentralRoleNamePrefix": "snskeyguard",
		"OrganizationId":        "o-a1b2c3d4e5",
		"RoleName":              "snskeyguard-member",
		"RoleRegion":            "us-east-1",
		"Mode":                  mode,
		"RemediationKeyId":      "",
		"DiscoverSources":       "true",
		"ExemptTagKey":          "snskeyguard:exempt",
		"SecurityHub":           "false",
	}
}

// memberStack resolves the member template for one account and region.
func memberStack(t *testing.T, tpl map[string]any, mode, account, region string) map[string]map[string]any {
	t.Helper()
	return memberStackWith(t, tpl, memberValues(mode), account, region)
}

func memberStackWith(t *testing.T, tpl map[string]any, values map[string]string, account, region string) map[string]map[string]any {
	t.Helper()
	s := newStack(t, tpl, values)
	s.params["AWS::AccountId"], s.params["AWS::Region"] = account, region
	return s.resources(t)
}

// centralActions is what the central functions may do in their own account, as the
// central template grants it, minus what stays central.
func centralActions(t *testing.T, settings map[string]string) []string {
	t.Helper()
	cfg := maps.Clone(orgSettings)
	maps.Copy(cfg, settings)
	res := newStack(t, rawTemplate(t), cfg).resources(t)
	centralOnly := slices.Concat(runtimeActions, []string{"sns:Publish", "sts:AssumeRole", "lambda:InvokeFunction"})
	set := map[string]bool{}
	for _, role := range []string{"TopicGuardRole", "KeyGuardRole", "ConfigRuleRole"} {
		for _, st := range roleStatements(t, res, role) {
			for _, a := range list(st.body["Action"]) {
				if !slices.Contains(centralOnly, scalar(a)) {
					set[scalar(a)] = true
				}
			}
		}
	}
	return sortedKeys(set)
}

func TestMemberTemplate(t *testing.T) {
	tpl, passed := memberTemplate(t)
	if got, want := sortedKeys(obj(tpl["Parameters"])), sortedKeys(passed); !slices.Equal(got, want) {
		t.Fatalf("member template parameters %v, StackSet passes %v", got, want)
	}
	const member, central = "222233334444", "111122223333"
	for _, mode := range []string{"alert", "remediate"} {
		for _, c := range []struct {
			account, region string
			want            []string
		}{
			{member, "us-east-1", []string{"ForwardKeyChanges", "ForwardRole", "ForwardTopicChanges", "GuardRole", "Placeholder"}},
			// IAM is global: the role comes only from the RoleRegion instance.
			{member, "eu-west-1", []string{"ForwardKeyChanges", "ForwardRole", "ForwardTopicChanges", "Placeholder"}},
			// A delegated administrator inside a targeted OU forwards nothing to itself.
			{central, "us-east-1", []string{"Placeholder"}},
		} {
			res := memberStack(t, tpl, mode, c.account, c.region)
			if got := sortedKeys(res); !slices.Equal(got, c.want) {
				t.Errorf("%s %s %s: resources %v, want %v", mode, c.account, c.region, got, c.want)
			}
		}
		// The member role follows the settings that decide optional calls, as the central roles do.
		for _, variant := range []map[string]string{nil, {"SecurityHub": "true", "RemediationKeyId": "alias/sns-remediation",
			"DiscoverSources": "false", "ExemptTagKey": ""}} {
			values := memberValues(mode)
			maps.Copy(values, variant)
			checkGuardRole(t, memberStackWith(t, tpl, values, member, "us-east-1"), values)
		}
		res := memberStack(t, tpl, mode, member, "us-east-1")
		checkForwarding(t, res)
		for id, r := range res {
			if typ := scalar(r["Type"]); typ != "AWS::IAM::Role" && typ != "AWS::Events::Rule" && typ != "AWS::CloudFormation::WaitConditionHandle" {
				t.Errorf("member resource %s of type %s", id, typ)
			}
		}
	}
}

func checkGuardRole(t *testing.T, res map[string]map[string]any, values map[string]string) {
	t.Helper()
	p := obj(res["GuardRole"]["Properties"])
	if p["RoleName"] != "snskeyguard-member" {
		t.Errorf("GuardRole RoleName %v, want the CrossAccountRoleName the functions assume", p["RoleName"])
	}
	// The central account, and in it only the three functions' roles of any region, by name;
	// in the organization only.
	trust := jsonOf(obj(p["AssumeRolePolicyDocument"])["Statement"])
	want := `[{"Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:PrincipalArn":[` +
		`{"Fn::Sub":"arn:${AWS::Partition}:iam::${CentralAccountId}:role/${CentralRoleNamePrefix}-topic-guard-*"},` +
		`{"Fn::Sub":"arn:${AWS::Partition}:iam::${CentralAccountId}:role/${CentralRoleNamePrefix}-key-guard-*"},` +
		`{"Fn::Sub":"arn:${AWS::Partition}:iam::${CentralAccountId}:role/${CentralRoleNamePrefix}-config-rule-*"}]},` +
		`"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}},"Effect":"Allow",` +
		`"Principal":{"AWS":{"Fn::Sub":"arn:${AWS::Partition}:iam::${CentralAccountId}:root"}}}]`
	if trust != want {
		t.Errorf("GuardRole trust\n %s\nwant\n %s", trust, want)
	}
	// Every central role, in any region, matches those names; nothing else of the template does.
	central := newStack(t, rawTemplate(t), orgSettings).resources(t)
	for _, region := range []string{"us-east-1", "eu-west-1", "ap-southeast-2"} {
		for _, role := range []string{"TopicGuardRole", "KeyGuardRole", "ConfigRuleRole"} {
			name := strings.NewReplacer("${AWS::StackName}", "snskeyguard", "${AWS::Region}", region).
				Replace(scalar(obj(obj(central[role]["Properties"])["RoleName"])["Fn::Sub"]))
			arn := "arn:aws:iam::111122223333:role/" + name
			n := 0
			for _, pat := range []string{"topic-guard", "key-guard", "config-rule"} {
				if m, _ := filepath.Match("arn:aws:iam::111122223333:role/snskeyguard-"+pat+"-*", arn); m {
					n++
				}
			}
			if n != 1 {
				t.Errorf("central role %s (%s) is trusted by %d of the member role's names, want 1", role, arn, n)
			}
		}
	}
	s := &stack{params: map[string]string{"CrossAccountRoleName": "snskeyguard-member"}}
	granted := map[string]bool{}
	for _, st := range roleStatements(t, res, "GuardRole") {
		checkIdentityStatement(t, st)
		for _, a := range list(st.body["Action"]) {
			granted[scalar(a)] = true
			checkResource(t, s, res, "", st, scalar(a))
			checkCondition(t, s, st, scalar(a))
		}
	}
	settings := map[string]string{}
	for _, k := range []string{"Mode", "RemediationKeyId", "DiscoverSources", "ExemptTagKey", "SecurityHub"} {
		settings[k] = values[k]
	}
	wantActions := memberActions(settings)
	if got := sortedKeys(granted); !slices.Equal(got, wantActions) {
		t.Errorf("%v: GuardRole grants\n %v\nwant\n %v", settings, got, wantActions)
	}
	// And it mirrors the central roles as the template writes them.
	if got, central := sortedKeys(granted), centralActions(t, settings); !slices.Equal(got, central) {
		t.Errorf("%v: GuardRole grants\n %v\nthe central roles act in their own account with\n %v", settings, got, central)
	}
}

func checkIdentityStatement(t *testing.T, st statement) {
	t.Helper()
	if st.body["Effect"] != "Allow" {
		t.Errorf("%s: statement with Effect %v", st.from, st.body["Effect"])
	}
	for _, k := range []string{"NotAction", "NotResource", "Principal", "NotPrincipal"} {
		if _, ok := st.body[k]; ok {
			t.Errorf("%s: identity statement uses %s", st.from, k)
		}
	}
	for _, a := range list(st.body["Action"]) {
		if strings.ContainsAny(scalar(a), "*?") {
			t.Errorf("%s grants wildcard action %q", st.from, a)
		}
	}
}

func checkForwarding(t *testing.T, res map[string]map[string]any) {
	t.Helper()
	p := obj(res["ForwardRole"]["Properties"])
	if got := jsonOf(obj(p["AssumeRolePolicyDocument"])["Statement"]); got != `[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"}}]` {
		t.Errorf("ForwardRole trust %s, want only events.amazonaws.com", got)
	}
	sts := roleStatements(t, res, "ForwardRole")
	if len(sts) != 1 || jsonOf(sts[0].body) != `{"Action":"events:PutEvents","Effect":"Allow","Resource":"`+memberValues("alert")["CentralEventBusArn"]+`","Sid":"PutOnCentralBusOnly"}` {
		var got []string
		for _, st := range sts {
			got = append(got, jsonOf(st.body))
		}
		t.Errorf("ForwardRole may do more than events:PutEvents on the central bus: %v", got)
	}
	central := newStack(t, rawTemplate(t), orgSettings).resources(t)
	samples := globSamples(t, "testdata/eventbridge-*.json", filepath.Join(root, "events", "*.json"))
	for rule, fn := range map[string]string{"ForwardTopicChanges": "TopicGuardFunction", "ForwardKeyChanges": "KeyGuardFunction"} {
		rp := obj(res[rule]["Properties"])
		centralPattern := ebEvents(central[fn])[handled[fn].event]["Pattern"]
		// Forward exactly what the central rule takes: anything else is a paid
		// cross-account event that no function handles.
		if jsonOf(rp["EventPattern"]) != jsonOf(centralPattern) {
			t.Errorf("%s pattern\n %s\ndiffers from the central %s rule\n %s", rule, jsonOf(rp["EventPattern"]), fn, jsonOf(centralPattern))
		}
		want := `[{"Arn":"` + memberValues("alert")["CentralEventBusArn"] + `","Id":"central-bus","RoleArn":{"Fn::GetAtt":"ForwardRole.Arn"}}]`
		if got := jsonOf(rp["Targets"]); got != want {
			t.Errorf("%s targets %s, want %s", rule, got, want)
		}
		if s, ok := rp["State"]; ok && s != "ENABLED" {
			t.Errorf("%s State %v", rule, s)
		}
		// A member's event, forwarded, still reaches the central function: same
		// pattern, and nothing in it looks at the account.
		positives := 0
		for _, path := range samples {
			var ev map[string]any
			readJSON(t, path, &ev)
			if _, isEB := ev["detail-type"]; !isEB || !shouldHandle(fn, ev) {
				continue
			}
			ev["account"] = "222233334444"
			obj(ev["detail"])["recipientAccountId"] = "222233334444"
			for _, pattern := range []any{rp["EventPattern"], centralPattern} {
				if m, err := matchPattern(pattern, ev); err != nil || !m {
					t.Errorf("%s: member event %s not forwarded/handled (err %v)", rule, filepath.Base(path), err)
				}
			}
			obj(ev["detail"])["errorCode"] = "AccessDenied"
			if m, _ := matchPattern(rp["EventPattern"], ev); m {
				t.Errorf("%s forwards a failed call (%s)", rule, filepath.Base(path))
			}
			positives++
		}
		if positives == 0 {
			t.Errorf("%s: no sample exercised it", rule)
		}
	}
}

func TestOrganizationConfigRule(t *testing.T) {
	if _, ok := orgStack(t, map[string]string{"EnableConfigRule": "false"}).resources(t)["OrganizationConfigRule"]; ok {
		t.Errorf("OrganizationConfigRule created with EnableConfigRule=false")
	}
	res := orgStack(t, map[string]string{"ConfigRuleFrequency": "Six_Hours"}).resources(t)
	rule := res["OrganizationConfigRule"]
	want := `{"Description":"SNS topics are encrypted with an enabled symmetric customer managed key whose policy lets their publishers use it.",` +
		`"LambdaFunctionArn":{"Fn::GetAtt":"ConfigRuleFunction.Arn"},"MaximumExecutionFrequency":"Six_Hours",` +
		`"OrganizationConfigRuleTriggerTypes":["ConfigurationItemChangeNotification","OversizedConfigurationItemChangeNotification","ScheduledNotification"],` +
		`"ResourceTypesScope":["AWS::SNS::Topic"]}`
	if got := jsonOf(obj(rule["Properties"])["OrganizationCustomRuleMetadata"]); got != want {
		t.Errorf("OrganizationCustomRuleMetadata\n %s\nwant\n %s", got, want)
	}
	if _, ok := obj(rule["Properties"])["OrganizationManagedRuleMetadata"]; ok {
		t.Errorf("OrganizationConfigRule sets managed rule metadata too")
	}
	// Config checks that it may invoke the function when the rule is created, and the
	// members' evaluations are written through their role, which the StackSet makes.
	deps := list(rule["DependsOn"])
	for _, d := range []string{"OrganizationConfigRulePermission", "MemberStackSet"} {
		if !slices.Contains(deps, any(d)) {
			t.Errorf("OrganizationConfigRule DependsOn %v lacks %s", deps, d)
		}
	}
	// Principal config.amazonaws.com with no PrincipalOrgID: a service principal carries
	// no aws:PrincipalOrgID, so that condition would deny every invocation.
	perm := obj(res["OrganizationConfigRulePermission"]["Properties"])
	if got := jsonOf(perm); got != `{"Action":"lambda:InvokeFunction","FunctionName":{"Fn::GetAtt":"ConfigRuleFunction.Arn"},"Principal":"config.amazonaws.com"}` {
		t.Errorf("OrganizationConfigRulePermission %s", got)
	}
}
