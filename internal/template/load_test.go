package template

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/snskeyguard/snskeyguard/internal/cfn"
)

// The repository root, seen from this package.
const root = "../.."

// Why two views of one template: goformation's typed model (used in template_test.go
// for the function properties it knows) cannot carry the rest of this template (see
// internal/cfn's package comment for what it loses). So the raw view below reads the
// template with internal/cfn, which resolves the conditional parts itself, for any set
// of parameter values; the local IAM proxy reads the roles through the same package.

// rawTemplate reads template.yaml into plain maps with long-form intrinsics.
func rawTemplate(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatalf("read template: %v", err)
	}
	tpl, err := cfn.Read(data)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// stack is the template as CloudFormation would see it for one set of parameter
// values: conditions decided, Fn::If branches chosen, AWS::NoValue removed, parameter
// Refs replaced by their values. References to resources, pseudo parameters,
// Fn::GetAtt and Fn::Sub are kept as written, since only a deployment knows them.
type stack struct {
	*cfn.Stack
	tpl    map[string]any
	params map[string]string
}

// newStack applies overrides on top of the parameter defaults; an override must
// name a parameter and respect its AllowedValues, as CloudFormation requires.
func newStack(t *testing.T, tpl map[string]any, overrides map[string]string) *stack {
	t.Helper()
	s, err := cfn.New(tpl, overrides, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &stack{Stack: s, tpl: s.Template, params: s.Params}
}

func obj(v any) map[string]any { return cfn.Obj(v) }

func list(v any) []any { return cfn.List(v) }

// scalar renders a YAML scalar the way CloudFormation passes it on: as a string.
func scalar(v any) string { return cfn.Scalar(v) }

func (s *stack) cond(name string) bool  { return s.Cond(name) }
func (s *stack) condExpr(e any) bool    { return s.CondExpr(e) }
func (s *stack) eval(v any) (any, bool) { return s.Eval(v) }

// resources returns the resources this stack creates, resolved.
func (s *stack) resources(t *testing.T) map[string]map[string]any {
	t.Helper()
	out, err := s.Resources()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s *stack) check(t *testing.T) {
	t.Helper()
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
}

// globalFunction returns the resolved Globals.Function section.
func (s *stack) globalFunction() map[string]any {
	v, _ := s.eval(obj(obj(s.tpl["Globals"])["Function"]))
	return obj(v)
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
func getAtt(v any) (id, attr string, ok bool) { return cfn.GetAtt(v) }

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
