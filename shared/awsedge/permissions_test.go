package awsedge

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// clientService maps the Account's client fields to the service id Calls uses.
var clientService = map[string]string{
	"sns": "SNS", "kms": "KMS", "sts": "STS", "cloudwatch": "CloudWatch",
	"eventbridge": "EventBridge", "config": "ConfigService", "securityhub": "SecurityHub", "sqs": "SQS",
}

// sdkCalls parses this package's source (tests excluded) and returns, per
// function or method name, the AWS calls it makes itself and the package
// functions it calls.
func sdkCalls(t *testing.T) (direct map[string]map[string]bool, callees map[string]map[string]bool) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var decls []*ast.FuncDecl
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				decls = append(decls, fd)
			}
		}
	}
	names := map[string]bool{}
	for _, fd := range decls {
		names[fd.Name.Name] = true
	}
	direct, callees = map[string]map[string]bool{}, map[string]map[string]bool{}
	for _, fd := range decls {
		name := fd.Name.Name
		direct[name], callees[name] = map[string]bool{}, map[string]bool{}
		ast.Inspect(fd, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				if names[fn.Name] {
					callees[name][fn.Name] = true
				}
			case *ast.SelectorExpr:
				op := fn.Sel.Name
				// x.calls.Add("<Service.Op>"): a request the package sends
				// itself (signed by hand, not through an SDK client) counts
				// its call by hand.
				if inner, ok := fn.X.(*ast.SelectorExpr); ok && inner.Sel.Name == "calls" && op == "Add" && len(call.Args) == 1 {
					if lit, ok := call.Args[0].(*ast.BasicLit); ok {
						direct[name][strings.Trim(lit.Value, `"`)] = true
						return true
					}
				}
				// x.<client>.<Op>(...)
				if inner, ok := fn.X.(*ast.SelectorExpr); ok {
					if svc, ok := clientService[inner.Sel.Name]; ok {
						direct[name][svc+"."+op] = true
						return true
					}
				}
				// <pkg>.New<Op>Paginator(x.<client>, ...)
				if strings.HasPrefix(op, "New") && strings.HasSuffix(op, "Paginator") && len(call.Args) > 0 {
					if arg, ok := call.Args[0].(*ast.SelectorExpr); ok {
						if svc, ok := clientService[arg.Sel.Name]; ok {
							direct[name][svc+"."+strings.TrimSuffix(strings.TrimPrefix(op, "New"), "Paginator")] = true
							return true
						}
					}
				}
				if pkg, ok := fn.X.(*ast.Ident); ok && pkg.Name == "stscreds" && op == "NewAssumeRoleProvider" {
					direct[name]["STS.AssumeRole"] = true
					return true
				}
				if names[op] {
					callees[name][op] = true
				}
			}
			return true
		})
	}
	return direct, callees
}

// TestPermissionsListEveryCall holds Permissions to the code: every AWS call
// the package makes is listed, and each method's calls that need a
// permission (directly or through the package's own helpers) are exactly the
// ones listed for it.
func TestPermissionsListEveryCall(t *testing.T) {
	direct, callees := sdkCalls(t)
	action := map[string]string{}
	listed := map[string][]string{}
	for _, p := range Permissions {
		action[p.Call] = p.Action
		listed[p.Method] = append(listed[p.Method], p.Call)
	}
	all := map[string]bool{}
	for fn, calls := range direct {
		for c := range calls {
			all[c] = true
			if _, ok := action[c]; !ok {
				t.Errorf("%s calls %s, which Permissions does not list", fn, c)
			}
		}
	}
	if len(all) < 15 {
		t.Fatalf("found only %d AWS calls in the source (%v): the parser no longer sees them", len(all), sortedSet(all))
	}
	for method, calls := range listed {
		if _, ok := direct[method]; !ok {
			t.Errorf("Permissions lists method %s, which this package does not have", method)
			continue
		}
		reach := map[string]bool{}
		seen := map[string]bool{}
		var walk func(string)
		walk = func(fn string) {
			if seen[fn] {
				return
			}
			seen[fn] = true
			for c := range direct[fn] {
				reach[c] = true
			}
			for callee := range callees[fn] {
				walk(callee)
			}
		}
		walk(method)
		var got []string
		for c := range reach {
			if action[c] != "" {
				got = append(got, c)
			}
		}
		var want []string
		for _, c := range calls {
			if action[c] != "" {
				want = append(want, c)
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		want = slices.Compact(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s makes the calls %v, Permissions lists %v", method, got, want)
		}
	}
}

func TestActions(t *testing.T) {
	got := Actions("RuleTopics", "GetTopic", "Identity", "SelectTopicsByKey", "SelectResources")
	want := []string{"config:SelectResourceConfig", "events:ListEventBuses", "events:ListRules", "events:ListTargetsByRule", "sns:GetTopicAttributes"}
	if !slices.Equal(got, want) {
		t.Errorf("Actions = %v, want %v", got, want)
	}
	if got := Actions("NoSuchMethod"); !slices.Equal(got, []string{"?NoSuchMethod"}) {
		t.Errorf("unknown method: %v", got)
	}
}

func sortedSet(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
