package iamproxy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/snskeyguard/snskeyguard/internal/cfn"
	"github.com/snskeyguard/snskeyguard/shared/policy"
)

// namedPolicy is one identity-based policy of a role, parsed by the product's
// own policy package.
type namedPolicy struct {
	name string // "TopicGuardRole/topic-guard", "GuardRuntimePolicy"
	doc  *policy.Document
}

// role is an IAM role as the template defines it for one deployment.
type role struct {
	arn      string
	name     string
	account  string
	policies []namedPolicy
	trust    *policy.Document
}

// roleOf reads the role with logical id id from a resolved stack: its inline
// Policies, every AWS::IAM::Policy (or ManagedPolicy) that names it in Roles,
// and its trust policy.
func roleOf(st *cfn.Stack, id string) (*role, error) {
	res, ok := st.Resource(id)
	if !ok || cfn.Scalar(res["Type"]) != "AWS::IAM::Role" {
		return nil, fmt.Errorf("role %s: not an AWS::IAM::Role this deployment creates", id)
	}
	ref, _ := st.Eval(map[string]any{"Ref": id})
	arn, _ := st.Eval(map[string]any{"Fn::GetAtt": []any{id, "Arn"}})
	r := &role{name: cfn.Scalar(ref), arn: cfn.Scalar(arn)}
	r.account, _ = policy.AccountOf(r.arn)
	props := cfn.Obj(res["Properties"])
	if m := cfn.List(props["ManagedPolicyArns"]); len(m) > 0 {
		// Managed policies live outside the template; evaluating the role
		// without them would deny what they allow.
		return nil, fmt.Errorf("role %s: ManagedPolicyArns %v are not in the template and cannot be evaluated", id, m)
	}
	if props["PermissionsBoundary"] != nil {
		return nil, fmt.Errorf("role %s: a PermissionsBoundary is not evaluated here", id)
	}
	for _, p := range cfn.List(props["Policies"]) {
		doc, err := parse(cfn.Obj(p)["PolicyDocument"])
		if err != nil {
			return nil, fmt.Errorf("role %s policy %s: %w", id, cfn.Scalar(cfn.Obj(p)["PolicyName"]), err)
		}
		r.policies = append(r.policies, namedPolicy{id + "/" + cfn.Scalar(cfn.Obj(p)["PolicyName"]), doc})
	}
	ids := make([]string, 0)
	for other := range cfn.Obj(st.Template["Resources"]) {
		ids = append(ids, other)
	}
	slices.Sort(ids)
	for _, other := range ids {
		typ := cfn.Scalar(cfn.Obj(cfn.Obj(st.Template["Resources"])[other])["Type"])
		if typ != "AWS::IAM::Policy" && typ != "AWS::IAM::ManagedPolicy" {
			continue
		}
		pr, ok := st.Resource(other)
		if !ok {
			continue
		}
		pp := cfn.Obj(pr["Properties"])
		names := false
		for _, n := range cfn.List(pp["Roles"]) {
			names = names || cfn.Scalar(n) == r.name
		}
		if !names {
			continue
		}
		doc, err := parse(pp["PolicyDocument"])
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", other, err)
		}
		r.policies = append(r.policies, namedPolicy{other, doc})
	}
	trust, err := parse(props["AssumeRolePolicyDocument"])
	if err != nil {
		return nil, fmt.Errorf("role %s trust policy: %w", id, err)
	}
	r.trust = trust
	return r, st.Err()
}

func parse(v any) (*policy.Document, error) {
	if v == nil {
		return nil, fmt.Errorf("no policy document")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return policy.Parse(b)
}

// functionRole finds the function whose deployed name is "<stack>-<name>"
// (the template's FunctionName) and returns the logical id of its Role.
func functionRole(st *cfn.Stack, stackName, name string) (fnID, roleID string, err error) {
	for id, r := range cfn.Obj(st.Template["Resources"]) {
		typ := cfn.Scalar(cfn.Obj(r)["Type"])
		if typ != "AWS::Serverless::Function" && typ != "AWS::Lambda::Function" {
			continue
		}
		res, ok := st.Resource(id)
		if !ok {
			continue
		}
		props := cfn.Obj(res["Properties"])
		if cfn.Scalar(props["FunctionName"]) != stackName+"-"+name {
			continue
		}
		g, ok := cfn.Obj(cfn.Obj(cfn.Obj(st.Template["Resources"])[id])["Properties"])["Role"]
		if !ok {
			return "", "", fmt.Errorf("function %s has no Role", id)
		}
		rid, _, ok := cfn.GetAtt(g)
		if !ok {
			return "", "", fmt.Errorf("function %s: Role is not an Fn::GetAtt of a role in the template", id)
		}
		return id, rid, nil
	}
	return "", "", fmt.Errorf("no function named %s-%s in the template", stackName, name)
}

// paramsFromEnv finds the template parameters that give a function the
// environment env: a variable set to !Ref P sets P; a variable set by an
// expression (ALERT_TOPIC_ARN: !If [CreateAlertTopic, !Ref AlertTopic, !Ref
// AlertTopicArn]) tries each parameter it names at the variable's value and
// at its default, and keeps the choice that reproduces the value. Variables
// the template does not declare, the AWS_ENDPOINT_URL* ones and LOG_LEVEL are not read.
func paramsFromEnv(tpl map[string]any, env, fixed map[string]string, dep *cfn.Deployment, fnID string) (map[string]string, error) {
	vars := map[string]any{}
	for k, v := range cfn.Obj(cfn.Obj(cfn.Obj(cfn.Obj(tpl["Globals"])["Function"])["Environment"])["Variables"]) {
		vars[k] = v
	}
	for k, v := range cfn.Obj(cfn.Obj(cfn.Obj(cfn.Obj(cfn.Obj(tpl["Resources"])[fnID])["Properties"])["Environment"])["Variables"]) {
		vars[k] = v
	}
	// The endpoints and the log level are the harness's to set (they point
	// at the emulators; sam local invoke's env.json sets them the same way),
	// whatever the template declares for them: they grant nothing.
	for k := range vars {
		if strings.HasPrefix(k, "AWS_ENDPOINT_URL") || k == "LOG_LEVEL" {
			delete(vars, k)
		}
	}
	params := map[string]string{}
	for k, v := range fixed {
		params[k] = v
	}
	declared := cfn.Obj(tpl["Parameters"])
	var exprs []string
	for _, k := range sortedKeys(vars) {
		val, set := env[k]
		if !set {
			continue
		}
		if p, ok := cfn.Obj(vars[k])["Ref"]; ok && declared[cfn.Scalar(p)] != nil {
			if prev, dup := params[cfn.Scalar(p)]; dup && prev != val {
				return nil, fmt.Errorf("%s=%q contradicts parameter %s=%q", k, val, cfn.Scalar(p), prev)
			}
			params[cfn.Scalar(p)] = val
			continue
		}
		exprs = append(exprs, k)
	}
	for _, k := range exprs {
		var refs []string
		collectParamRefs(vars[k], declared, &refs)
		solved := false
		for _, p := range refs {
			if _, ok := params[p]; ok {
				continue
			}
			for _, cand := range []string{env[k], cfn.Scalar(cfn.Obj(declared[p])["Default"])} {
				try := clone(params)
				try[p] = cand
				if got, err := resolveVar(tpl, try, dep, vars[k]); err == nil && got == env[k] {
					params, solved = try, true
					break
				}
			}
			if solved {
				break
			}
		}
		_ = solved // checked below with every variable
	}
	for _, k := range sortedKeys(vars) {
		val, set := env[k]
		if !set {
			continue
		}
		got, err := resolveVar(tpl, params, dep, vars[k])
		if err != nil {
			return nil, err
		}
		if got != val {
			return nil, fmt.Errorf("environment %s=%q: no parameter values of the template give it (they give %q)", k, val, got)
		}
	}
	return params, nil
}

func resolveVar(tpl map[string]any, params map[string]string, dep *cfn.Deployment, expr any) (string, error) {
	st, err := cfn.New(tpl, params, dep)
	if err != nil {
		return "", err
	}
	v, _ := st.Eval(expr)
	return cfn.Scalar(v), st.Err()
}

func collectParamRefs(v any, declared map[string]any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		if r, ok := x["Ref"]; ok && len(x) == 1 && declared[cfn.Scalar(r)] != nil {
			*out = append(*out, cfn.Scalar(r))
			return
		}
		for _, k := range sortedKeys(x) {
			collectParamRefs(x[k], declared, out)
		}
	case []any:
		for _, e := range x {
			collectParamRefs(e, declared, out)
		}
	}
}

// memberRole reads the role named name that the template's StackSet creates
// in account (the StackSet's inner template, with the parameters the central
// stack passes it). ok=false: the StackSet creates no such role there.
func memberRole(central *cfn.Stack, account, region, name string) (r *role, ok bool, err error) {
	for id, res := range cfn.Obj(central.Template["Resources"]) {
		if cfn.Scalar(cfn.Obj(res)["Type"]) != "AWS::CloudFormation::StackSet" {
			continue
		}
		ss, created := central.Resource(id)
		if !created {
			continue
		}
		props := cfn.Obj(ss["Properties"])
		inner, err := cfn.Read([]byte(cfn.Scalar(props["TemplateBody"])))
		if err != nil {
			return nil, false, fmt.Errorf("StackSet %s: %w", id, err)
		}
		params := map[string]string{}
		for _, p := range cfn.List(props["Parameters"]) {
			v := cfn.Obj(p)["ParameterValue"]
			if l, isList := v.([]any); isList {
				var parts []string
				for _, x := range l {
					parts = append(parts, cfn.Scalar(x))
				}
				params[cfn.Scalar(cfn.Obj(p)["ParameterKey"])] = strings.Join(parts, ",")
				continue
			}
			params[cfn.Scalar(cfn.Obj(p)["ParameterKey"])] = cfn.Scalar(v)
		}
		st, err := cfn.New(inner, params, &cfn.Deployment{AccountID: account, Region: region,
			StackName: "StackSet-" + cfn.Scalar(props["StackSetName"])})
		if err != nil {
			return nil, false, fmt.Errorf("StackSet %s: %w", id, err)
		}
		for rid, rr := range cfn.Obj(inner["Resources"]) {
			if cfn.Scalar(cfn.Obj(rr)["Type"]) != "AWS::IAM::Role" {
				continue
			}
			if _, created := st.Resource(rid); !created {
				continue
			}
			if n, _ := st.Eval(map[string]any{"Ref": rid}); cfn.Scalar(n) != name {
				continue
			}
			r, err := roleOf(st, rid)
			return r, err == nil, err
		}
	}
	return nil, false, nil
}
