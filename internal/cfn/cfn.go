// Package cfn reads a CloudFormation (SAM) template the way CloudFormation sees
// it for one set of parameter values: conditions decided, Fn::If branches
// chosen, AWS::NoValue removed, parameter Refs replaced by their values. With a
// Deployment it also resolves what only a deployment knows (pseudo parameters,
// Ref and Fn::GetAtt of resources by the physical names the deployment gives
// them, Fn::Sub, Fn::Join, Fn::Split, Fn::Select), so that a role's policies
// read as IAM will evaluate them. It is test and emulator tooling, not product
// code: the template tests and the local IAM proxy share it.
//
// Why a reader of its own: goformation's typed model (v7.14.9) drops EventBridge
// rule properties it cannot decode, resolves Ref only to parameter defaults,
// turns every Fn::GetAtt and resource Ref into null, and with EvaluateConditions
// replaces conditional resources by booleans. So Read takes goformation's own
// YAML reader with NoProcess (short tags like !If become their long form,
// nothing is resolved) and this package resolves the rest itself.
package cfn

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/awslabs/goformation/v7/intrinsics"
)

// Read parses a template (YAML or JSON) into plain maps with long-form intrinsics.
func Read(data []byte) (map[string]any, error) {
	out, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	var tpl map[string]any
	if err := json.Unmarshal(out, &tpl); err != nil {
		return nil, fmt.Errorf("decode template: %w", err)
	}
	return tpl, nil
}

// Deployment is what CloudFormation knows once a stack is created: its pseudo
// parameters and the physical names of its resources.
type Deployment struct {
	AccountID string // AWS::AccountId
	Region    string // AWS::Region
	StackName string // AWS::StackName
	Partition string // AWS::Partition; "aws" when empty
	// Physical replaces the default physical identity of a resource (by
	// logical id): its Ref value and attributes. Resources not listed are
	// named "<StackName>-<LogicalId>" unless a name property (RoleName,
	// FunctionName, ...) names them, as CloudFormation does.
	Physical map[string]Physical
}

// Physical is a resource's Ref value and Fn::GetAtt attributes.
type Physical struct {
	Ref   string
	Attrs map[string]string
}

// Stack is a template resolved for one set of parameter values.
type Stack struct {
	Template map[string]any
	// Params holds every parameter's value (defaults, then overrides). A
	// caller may add pseudo parameters ("AWS::AccountId") here as well.
	Params map[string]string
	dep    *Deployment
	conds  map[string]bool
	busy   map[string]bool
	errs   []string
}

// New applies overrides on top of the parameter defaults; an override must
// name a parameter and respect its AllowedValues, and every parameter must end
// with a value, as CloudFormation requires. dep may be nil: then references to
// resources, pseudo parameters, Fn::GetAtt, Fn::Sub and Fn::Join are kept as
// written.
func New(tpl map[string]any, overrides map[string]string, dep *Deployment) (*Stack, error) {
	s := &Stack{Template: tpl, Params: map[string]string{}, dep: dep, conds: map[string]bool{}, busy: map[string]bool{}}
	params := Obj(tpl["Parameters"])
	for name, p := range params {
		if d, ok := Obj(p)["Default"]; ok {
			s.Params[name] = Scalar(d)
		}
	}
	for _, name := range sortedKeys(overrides) {
		v := overrides[name]
		p, ok := params[name]
		if !ok {
			return nil, fmt.Errorf("override of unknown parameter %s", name)
		}
		if allowed, ok := Obj(p)["AllowedValues"].([]any); ok {
			found := false
			for _, a := range allowed {
				found = found || Scalar(a) == v
			}
			if !found {
				return nil, fmt.Errorf("override %s=%q is not among AllowedValues %v", name, v, allowed)
			}
		}
		s.Params[name] = v
	}
	for _, name := range sortedKeys(params) {
		if _, ok := s.Params[name]; !ok {
			return nil, fmt.Errorf("parameter %s has no default and no override", name)
		}
	}
	return s, nil
}

// Obj returns v as an object (nil if it is not one).
func Obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// List returns v as a list: a scalar becomes a one-item list, nil an empty one.
func List(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	default:
		return []any{x}
	}
}

// Scalar renders a YAML scalar the way CloudFormation passes it on: as a string.
func Scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprintf("%v", v)
}

// Err returns the problems met while resolving (unknown conditions, functions
// that cannot be resolved, ...), or nil.
func (s *Stack) Err() error {
	if len(s.errs) == 0 {
		return nil
	}
	return fmt.Errorf("template does not resolve: %s", strings.Join(s.errs, "; "))
}

func (s *Stack) fail(format string, a ...any) { s.errs = append(s.errs, fmt.Sprintf(format, a...)) }

// Cond decides a named condition.
func (s *Stack) Cond(name string) bool {
	if v, ok := s.conds[name]; ok {
		return v
	}
	expr, ok := Obj(s.Template["Conditions"])[name]
	if !ok {
		s.fail("unknown condition %s", name)
		return false
	}
	if s.busy[name] {
		s.fail("condition cycle at %s", name)
		return false
	}
	s.busy[name] = true
	v := s.CondExpr(expr)
	s.busy[name] = false
	s.conds[name] = v
	return v
}

// CondExpr decides a condition expression (Fn::Equals, Fn::Not, Fn::And,
// Fn::Or, Condition), as found in Conditions and in Rules.
func (s *Stack) CondExpr(e any) bool {
	// goformation's reader turns {"Condition": name} (the !Condition tag) into the bare
	// name, even with NoProcess; in a condition expression a string can only be that.
	if name, ok := e.(string); ok {
		return s.Cond(name)
	}
	m := Obj(e)
	if len(m) != 1 {
		s.fail("condition is not one function: %v", e)
		return false
	}
	for fn, arg := range m {
		args := List(arg)
		switch fn {
		case "Condition":
			return s.Cond(Scalar(arg))
		case "Fn::Equals":
			if len(args) != 2 {
				s.fail("Fn::Equals needs two values")
				return false
			}
			a, _ := s.Eval(args[0])
			b, _ := s.Eval(args[1])
			return Scalar(a) == Scalar(b)
		case "Fn::Not":
			return !s.CondExpr(args[0])
		case "Fn::Contains": // a rule function: a list of strings holds a string
			if len(args) != 2 {
				s.fail("Fn::Contains needs two values")
				return false
			}
			l, _ := s.Eval(args[0])
			v, _ := s.Eval(args[1])
			for _, e := range List(l) {
				if Scalar(e) == Scalar(v) {
					return true
				}
			}
			return false
		case "Fn::And", "Fn::Or":
			and := fn == "Fn::And"
			acc := and
			for _, x := range args {
				if and {
					acc = acc && s.CondExpr(x)
				} else {
					acc = acc || s.CondExpr(x)
				}
			}
			return acc
		}
		s.fail("unsupported condition function %s", fn)
	}
	return false
}

// Eval resolves v; keep=false means AWS::NoValue (the member is left out).
func (s *Stack) Eval(v any) (out any, keep bool) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for fn, arg := range x {
				if r, keep, done := s.function(fn, arg, x); done {
					return r, keep
				}
			}
		}
		m := map[string]any{}
		for k, val := range x {
			if r, ok := s.Eval(val); ok {
				m[k] = r
			}
		}
		return m, true
	case []any:
		l := []any{}
		for _, val := range x {
			if r, ok := s.Eval(val); ok {
				l = append(l, r)
			}
		}
		return l, true
	}
	return v, true
}

// function resolves one intrinsic; done=false leaves the map to the generic
// walk (an unknown key, or a function only a deployment resolves).
func (s *Stack) function(fn string, arg any, whole map[string]any) (out any, keep, done bool) {
	switch fn {
	case "Ref":
		name := Scalar(arg)
		if name == "AWS::NoValue" {
			return nil, false, true
		}
		if p, ok := s.Params[name]; ok {
			if Scalar(Obj(Obj(s.Template["Parameters"])[name])["Type"]) == "CommaDelimitedList" {
				return splitList(p), true, true
			}
			return p, true, true
		}
		if s.dep == nil {
			return whole, true, true
		}
		return s.ref(name), true, true
	case "Fn::If":
		args := List(arg)
		if len(args) != 3 {
			s.fail("Fn::If needs three values")
			return nil, false, true
		}
		if s.Cond(Scalar(args[0])) {
			r, k := s.Eval(args[1])
			return r, k, true
		}
		r, k := s.Eval(args[2])
		return r, k, true
	}
	if s.dep == nil {
		// Without a deployment only a Select over a list the parameters
		// already decide is resolved (conditions such as
		// !Select [0, !Ref SomeList] depend on it); the rest is kept.
		if fn == "Fn::Select" {
			if args := List(arg); len(args) == 2 {
				idx, _ := s.Eval(args[0])
				items, _ := s.Eval(args[1])
				l, isList := items.([]any)
				i, err := strconv.Atoi(Scalar(idx))
				if isList && err == nil && i >= 0 && i < len(l) {
					if _, unresolved := l[i].(map[string]any); !unresolved {
						return l[i], true, true
					}
				}
			}
		}
		return nil, false, false
	}
	switch fn {
	case "Fn::GetAtt":
		id, attr, ok := GetAtt(whole)
		if !ok {
			s.fail("malformed Fn::GetAtt %v", arg)
			return "", true, true
		}
		return s.getAtt(id, attr), true, true
	case "Fn::Sub":
		return s.sub(arg), true, true
	case "Fn::Join":
		args := List(arg)
		if len(args) != 2 {
			s.fail("Fn::Join needs a delimiter and a list")
			return "", true, true
		}
		items, _ := s.Eval(args[1])
		var parts []string
		for _, it := range List(items) {
			parts = append(parts, Scalar(it))
		}
		return strings.Join(parts, Scalar(args[0])), true, true
	case "Fn::Split":
		args := List(arg)
		if len(args) != 2 {
			s.fail("Fn::Split needs a delimiter and a string")
			return []any{}, true, true
		}
		str, _ := s.Eval(args[1])
		var out []any
		for _, p := range strings.Split(Scalar(str), Scalar(args[0])) {
			out = append(out, p)
		}
		return out, true, true
	case "Fn::Select":
		args := List(arg)
		if len(args) != 2 {
			s.fail("Fn::Select needs an index and a list")
			return "", true, true
		}
		idx, _ := s.Eval(args[0])
		items, _ := s.Eval(args[1])
		i, err := strconv.Atoi(Scalar(idx))
		l := List(items)
		if err != nil || i < 0 || i >= len(l) {
			s.fail("Fn::Select index %v out of %d items", idx, len(l))
			return "", true, true
		}
		return l[i], true, true
	case "Fn::FindInMap":
		args := List(arg)
		if len(args) != 3 {
			s.fail("Fn::FindInMap needs a map, a top-level key and a second-level key")
			return "", true, true
		}
		var keys [3]string
		for i, a := range args {
			v, _ := s.Eval(a)
			keys[i] = Scalar(v)
		}
		v, ok := Obj(Obj(Obj(s.Template["Mappings"])[keys[0]])[keys[1]])[keys[2]]
		if !ok {
			s.fail("Fn::FindInMap %v: no such entry", keys)
			return "", true, true
		}
		return v, true, true
	}
	if strings.HasPrefix(fn, "Fn::") {
		// A function this reader does not know would be kept as written and
		// read as a literal: say so instead.
		s.fail("unsupported intrinsic function %s", fn)
		return "", true, true
	}
	return nil, false, false
}

func splitList(p string) []any {
	// As CloudFormation does, "" is a list of one empty string, so
	// !Select [0, !Ref List] works on an empty default.
	out := []any{}
	for _, x := range strings.Split(p, ",") {
		out = append(out, strings.TrimSpace(x))
	}
	return out
}

// pseudo returns a pseudo parameter's value.
func (s *Stack) pseudo(name string) (string, bool) {
	d := s.dep
	switch name {
	case "AWS::AccountId":
		return d.AccountID, true
	case "AWS::Region":
		return d.Region, true
	case "AWS::StackName":
		return d.StackName, true
	case "AWS::Partition":
		return d.partition(), true
	case "AWS::URLSuffix":
		return "amazonaws.com", true
	case "AWS::StackId":
		return "arn:" + d.partition() + ":cloudformation:" + d.Region + ":" + d.AccountID + ":stack/" + d.StackName + "/00000000-0000-0000-0000-000000000000", true
	}
	return "", false
}

func (d *Deployment) partition() string {
	if d.Partition == "" {
		return "aws"
	}
	return d.Partition
}

func (s *Stack) ref(name string) string {
	if v, ok := s.pseudo(name); ok {
		return v
	}
	if p, ok := s.dep.Physical[name]; ok && p.Ref != "" {
		return p.Ref
	}
	typ, phys, ok := s.physicalName(name)
	if !ok {
		return ""
	}
	d := s.dep
	switch typ {
	case "AWS::SNS::Topic":
		return s.arn("sns", phys)
	case "AWS::SQS::Queue":
		return "https://sqs." + d.Region + ".amazonaws.com/" + d.AccountID + "/" + phys
	}
	// Roles, log groups, functions, rules, keys (the deployment's key id) and
	// most other types: Ref is the physical name.
	return phys
}

func (s *Stack) getAtt(id, attr string) string {
	if p, ok := s.dep.Physical[id]; ok {
		if v, ok := p.Attrs[attr]; ok {
			return v
		}
	}
	typ, phys, ok := s.physicalName(id)
	if !ok {
		return ""
	}
	d := s.dep
	ref := s.ref(id)
	switch typ + "." + attr {
	case "AWS::IAM::Role.Arn":
		return "arn:" + d.partition() + ":iam::" + d.AccountID + ":role/" + phys
	case "AWS::IAM::Role.RoleId":
		return "AROA" + strings.ToUpper(strings.ReplaceAll(phys, "-", ""))
	case "AWS::SNS::Topic.TopicArn":
		return ref
	case "AWS::SNS::Topic.TopicName":
		return phys
	case "AWS::KMS::Key.Arn":
		return s.arn("kms", "key/"+ref)
	case "AWS::KMS::Key.KeyId":
		return ref
	case "AWS::SQS::Queue.Arn":
		return s.arn("sqs", phys)
	case "AWS::SQS::Queue.QueueName":
		return phys
	case "AWS::SQS::Queue.QueueUrl":
		return ref
	case "AWS::Logs::LogGroup.Arn":
		return s.arn("logs", "log-group:"+phys+":*")
	case "AWS::Serverless::Function.Arn", "AWS::Lambda::Function.Arn":
		return s.arn("lambda", "function:"+phys)
	case "AWS::Events::Rule.Arn":
		return s.arn("events", "rule/"+phys)
	}
	s.fail("no physical value for %s.%s (%s)", id, attr, typ)
	return ""
}

func (s *Stack) arn(service, resource string) string {
	return "arn:" + s.dep.partition() + ":" + service + ":" + s.dep.Region + ":" + s.dep.AccountID + ":" + resource
}

// nameProperties name a resource's physical name when the template sets them.
var nameProperties = []string{"RoleName", "FunctionName", "TopicName", "QueueName", "LogGroupName", "AliasName",
	"ConfigRuleName", "StackSetName", "PolicyName", "Name"}

// physicalName returns a resource's type and physical name. SAM-generated
// resources (an EventBridgeRule event of a function becomes an
// AWS::Events::Rule "<Function><Event>") are known by that rule too.
func (s *Stack) physicalName(id string) (typ, name string, ok bool) {
	res := Obj(Obj(s.Template["Resources"])[id])
	if res == nil {
		if fn, ev, found := s.samEvent(id); found {
			return "AWS::Events::Rule", s.dep.StackName + "-" + fn + ev, true
		}
		s.fail("reference to unknown resource %s", id)
		return "", "", false
	}
	typ = Scalar(res["Type"])
	props := Obj(res["Properties"])
	for _, p := range nameProperties {
		if v, ok := props[p]; ok {
			r, _ := s.Eval(v)
			if n, isStr := r.(string); isStr && n != "" {
				return typ, n, true
			}
		}
	}
	return typ, s.dep.StackName + "-" + id, true
}

func (s *Stack) samEvent(id string) (fn, ev string, ok bool) {
	for name, r := range Obj(s.Template["Resources"]) {
		if Scalar(Obj(r)["Type"]) != "AWS::Serverless::Function" || !strings.HasPrefix(id, name) {
			continue
		}
		for e := range Obj(Obj(Obj(r)["Properties"])["Events"]) {
			if name+e == id {
				return name, e, true
			}
		}
	}
	return "", "", false
}

// sub resolves Fn::Sub in both forms: "text" and ["text", {var: value}].
func (s *Stack) sub(arg any) string {
	var text string
	vars := map[string]any{}
	switch x := arg.(type) {
	case string:
		text = x
	case []any:
		if len(x) != 2 {
			s.fail("Fn::Sub needs a string and a map")
			return ""
		}
		text = Scalar(x[0])
		for k, v := range Obj(x[1]) {
			r, _ := s.Eval(v)
			vars[k] = r
		}
	default:
		s.fail("malformed Fn::Sub %v", arg)
		return ""
	}
	var b strings.Builder
	for {
		i := strings.Index(text, "${")
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		b.WriteString(text[:i])
		j := strings.Index(text[i:], "}")
		if j < 0 {
			s.fail("unclosed ${ in Fn::Sub %q", text)
			return b.String()
		}
		name := text[i+2 : i+j]
		text = text[i+j+1:]
		if strings.HasPrefix(name, "!") { // ${!Literal} writes ${Literal}
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		if v, ok := vars[name]; ok {
			b.WriteString(Scalar(v))
			continue
		}
		if id, attr, ok := strings.Cut(name, "."); ok {
			b.WriteString(s.getAtt(id, attr))
			continue
		}
		r, _ := s.Eval(map[string]any{"Ref": name})
		if l, isList := r.([]any); isList {
			s.fail("Fn::Sub of list parameter %s", name)
			r = fmt.Sprint(l)
		}
		b.WriteString(Scalar(r))
	}
}

// Resource returns one resource resolved, or false when its Condition is false
// or it does not exist.
func (s *Stack) Resource(id string) (map[string]any, bool) {
	r, ok := Obj(s.Template["Resources"])[id]
	if !ok {
		return nil, false
	}
	if c, ok := Obj(r)["Condition"]; ok && !s.Cond(Scalar(c)) {
		return nil, false
	}
	v, _ := s.Eval(r)
	return Obj(v), true
}

// Resources returns every resource this stack creates, resolved.
func (s *Stack) Resources() (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	for id := range Obj(s.Template["Resources"]) {
		if r, ok := s.Resource(id); ok {
			out[id] = r
		}
	}
	return out, s.Err()
}

// GetAtt returns the logical id and attribute of an Fn::GetAtt in either form.
func GetAtt(v any) (id, attr string, ok bool) {
	g, ok := Obj(v)["Fn::GetAtt"]
	if !ok || len(Obj(v)) != 1 {
		return "", "", false
	}
	switch x := g.(type) {
	case string:
		id, attr, ok = strings.Cut(x, ".")
		return id, attr, ok
	case []any:
		if len(x) == 2 {
			return Scalar(x[0]), Scalar(x[1]), true
		}
	}
	return "", "", false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
