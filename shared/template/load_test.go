package template

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/intrinsics"
)

// The repository root, seen from this package.
const root = "../.."

// Why two views of one template: goformation's typed model (used in template_test.go
// for the function properties it knows) cannot carry the rest of this template.
// Measured with v7.14.9:
//   - an EventBridgeRule event with RetryPolicy or DeadLetterConfig decodes to
//     Properties with every field nil (its union type decodes with
//     DisallowUnknownFields and swallows the error), so the patterns are lost;
//   - its intrinsic processor resolves Ref only to parameter defaults and turns every
//     Fn::GetAtt and Ref to a resource into null, so Role and KmsMasterKeyId vanish;
//   - with EvaluateConditions it replaces every resource that has a Condition
//     attribute by a bare boolean, and parsing fails ("cannot unmarshal bool into
//     ... rType").
// So the raw view below takes goformation's own YAML reader with NoProcess (short
// tags like !If become their long form, nothing is resolved) and resolves the
// conditional parts itself, for any set of parameter values.

// rawTemplate reads template.yaml into plain maps with long-form intrinsics.
func rawTemplate(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatalf("read template: %v", err)
	}
	out, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatalf("parse template: %v", err)
	}
	var tpl map[string]any
	if err := json.Unmarshal(out, &tpl); err != nil {
		t.Fatalf("decode template: %v", err)
	}
	return tpl
}

// stack is the template as CloudFormation would see it for one set of parameter
// values: conditions decided, Fn::If branches chosen, AWS::NoValue removed, parameter
// Refs replaced by their values. References to resources, pseudo parameters,
// Fn::GetAtt and Fn::Sub are kept as written, since only a deployment knows them.
type stack struct {
	tpl    map[string]any
	params map[string]string
	conds  map[string]bool
	busy   map[string]bool
	errs   []string
}

// newStack applies overrides on top of the parameter defaults; an override must
// name a parameter and respect its AllowedValues, as CloudFormation requires.
func newStack(t *testing.T, tpl map[string]any, overrides map[string]string) *stack {
	t.Helper()
	s := &stack{tpl: tpl, params: map[string]string{}, conds: map[string]bool{}, busy: map[string]bool{}}
	for name, p := range obj(tpl["Parameters"]) {
		if d, ok := obj(p)["Default"]; ok {
			s.params[name] = scalar(d)
		}
	}
	for name, v := range overrides {
		p, ok := obj(tpl["Parameters"])[name]
		if !ok {
			t.Fatalf("override of unknown parameter %s", name)
		}
		if allowed, ok := obj(p)["AllowedValues"].([]any); ok {
			found := false
			for _, a := range allowed {
				found = found || scalar(a) == v
			}
			if !found {
				t.Fatalf("override %s=%q is not among AllowedValues %v", name, v, allowed)
			}
		}
		s.params[name] = v
	}
	for name := range obj(tpl["Parameters"]) {
		if _, ok := s.params[name]; !ok {
			t.Fatalf("parameter %s has no default and no override", name)
		}
	}
	return s
}

// isList reports whether a template parameter is a CommaDelimitedList.
func (s *stack) isList(name string) bool {
	return scalar(obj(obj(s.tpl["Parameters"])[name])["Type"]) == "CommaDelimitedList"
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func list(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	default:
		return []any{x}
	}
}

// scalar renders a YAML scalar the way CloudFormation passes it on: as a string.
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmt.Sprintf("%g", x)
	case bool:
		return fmt.Sprintf("%t", x)
	}
	return fmt.Sprintf("%v", v)
}

// cond decides a named condition.
func (s *stack) cond(name string) bool {
	if v, ok := s.conds[name]; ok {
		return v
	}
	expr, ok := obj(s.tpl["Conditions"])[name]
	if !ok {
		s.errs = append(s.errs, "unknown condition "+name)
		return false
	}
	if s.busy[name] {
		s.errs = append(s.errs, "condition cycle at "+name)
		return false
	}
	s.busy[name] = true
	v := s.condExpr(expr)
	s.busy[name] = false
	s.conds[name] = v
	return v
}

func (s *stack) condExpr(e any) bool {
	// goformation's reader turns {"Condition": name} (the !Condition tag) into the bare
	// name, even with NoProcess; in a condition expression a string can only be that.
	if name, ok := e.(string); ok {
		return s.cond(name)
	}
	m := obj(e)
	if len(m) != 1 {
		s.errs = append(s.errs, fmt.Sprintf("condition is not one function: %v", e))
		return false
	}
	for fn, arg := range m {
		args := list(arg)
		switch fn {
		case "Condition":
			return s.cond(scalar(arg))
		case "Fn::Equals":
			if len(args) != 2 {
				s.errs = append(s.errs, "Fn::Equals needs two values")
				return false
			}
			a, _ := s.eval(args[0])
			b, _ := s.eval(args[1])
			return scalar(a) == scalar(b)
		case "Fn::Not":
			return !s.condExpr(args[0])
		case "Fn::Contains": // rule function: a list of strings holds a string
			if len(args) != 2 {
				s.errs = append(s.errs, "Fn::Contains needs two values")
				return false
			}
			l, _ := s.eval(args[0])
			v, _ := s.eval(args[1])
			return slices.ContainsFunc(list(l), func(e any) bool { return scalar(e) == scalar(v) })
		case "Fn::And", "Fn::Or":
			and := fn == "Fn::And"
			acc := and
			for _, x := range args {
				if and {
					acc = acc && s.condExpr(x)
				} else {
					acc = acc || s.condExpr(x)
				}
			}
			return acc
		}
		s.errs = append(s.errs, "unsupported condition function "+fn)
	}
	return false
}

// eval resolves what depends on parameters; keep=false means AWS::NoValue.
func (s *stack) eval(v any) (out any, keep bool) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for fn, arg := range x {
				switch fn {
				case "Ref":
					name := scalar(arg)
					if name == "AWS::NoValue" {
						return nil, false
					}
					if p, ok := s.params[name]; ok {
						if s.isList(name) {
							// CloudFormation splits a CommaDelimitedList ("" is [""]).
							var l []any
							for _, e := range strings.Split(p, ",") {
								l = append(l, e)
							}
							return l, true
						}
						return p, true
					}
					return x, true
				case "Fn::Select":
					args := list(arg)
					if len(args) != 2 {
						s.errs = append(s.errs, "Fn::Select needs two values")
						return nil, false
					}
					idx, _ := s.eval(args[0])
					l, _ := s.eval(args[1])
					var i int
					if _, err := fmt.Sscan(scalar(idx), &i); err != nil || i < 0 || i >= len(list(l)) {
						s.errs = append(s.errs, fmt.Sprintf("Fn::Select index %v out of %v", idx, l))
						return nil, false
					}
					if _, unresolved := l.([]any); !unresolved {
						return x, true
					}
					return list(l)[i], true
				case "Fn::If":
					args := list(arg)
					if len(args) != 3 {
						s.errs = append(s.errs, "Fn::If needs three values")
						return nil, false
					}
					if s.cond(scalar(args[0])) {
						return s.eval(args[1])
					}
					return s.eval(args[2])
				}
			}
		}
		m := map[string]any{}
		for k, val := range x {
			if r, ok := s.eval(val); ok {
				m[k] = r
			}
		}
		return m, true
	case []any:
		l := []any{}
		for _, val := range x {
			if r, ok := s.eval(val); ok {
				l = append(l, r)
			}
		}
		return l, true
	}
	return v, true
}

// resources returns the resources this stack creates, resolved.
func (s *stack) resources(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for id, r := range obj(s.tpl["Resources"]) {
		if c, ok := obj(r)["Condition"]; ok && !s.cond(scalar(c)) {
			continue
		}
		v, _ := s.eval(r)
		out[id] = obj(v)
	}
	s.check(t)
	return out
}

func (s *stack) check(t *testing.T) {
	t.Helper()
	if len(s.errs) > 0 {
		t.Fatalf("template does not resolve: %s", strings.Join(s.errs, "; "))
	}
}

// globalFunction returns the resolved Globals.Function section.
func (s *stack) globalFunction() map[string]any {
	v, _ := s.eval(obj(obj(s.tpl["Globals"])["Function"]))
	return obj(v)
}

// prop reads a function property, falling back to Globals like SAM does.
func (s *stack) prop(fn map[string]any, name string) any {
	if v, ok := obj(fn["Properties"])[name]; ok {
		return v
	}
	return s.globalFunction()[name]
}

// env is the effective environment of a function: Globals merged with its own,
// its own winning, as SAM merges maps.
func (s *stack) env(fn map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range obj(obj(s.globalFunction()["Environment"])["Variables"]) {
		out[k] = v
	}
	for k, v := range obj(obj(obj(fn["Properties"])["Environment"])["Variables"]) {
		out[k] = v
	}
	return out
}

// getAtt returns the logical id and attribute of an Fn::GetAtt in either form.
func getAtt(v any) (id, attr string, ok bool) {
	g, ok := obj(v)["Fn::GetAtt"]
	if !ok || len(obj(v)) != 1 {
		return "", "", false
	}
	switch x := g.(type) {
	case string:
		id, attr, ok = strings.Cut(x, ".")
		return id, attr, ok
	case []any:
		if len(x) == 2 {
			return scalar(x[0]), scalar(x[1]), true
		}
	}
	return "", "", false
}

// ref returns the target of a Ref.
func ref(v any) (string, bool) {
	r, ok := obj(v)["Ref"]
	if !ok || len(obj(v)) != 1 {
		return "", false
	}
	return scalar(r), true
}

// refersTo reports whether v is a Ref to id or an Fn::GetAtt on id.
func refersTo(v any, id string) bool {
	if r, ok := ref(v); ok && r == id {
		return true
	}
	g, _, ok := getAtt(v)
	return ok && g == id
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
