package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/snskeyguard/snskeyguard"

// The product: every package that ships in the Lambda functions, by role.
// Any other package of the module is tooling (emulators, local run, bench,
// test suites), wherever it lives, and the product may not import it.
var (
	// pure packages: the engine and its outputs; no AWS SDK, X-Ray or
	// smithy anywhere in their imports, direct or not.
	pure = []string{
		"shared/configrule", "shared/cost", "shared/fault", "shared/guard", "shared/plan", "shared/policy",
		"shared/report", "shared/rules", "shared/scan", "shared/sources", "shared/telemetry", "shared/trigger",
	}
	// edge packages: the only product packages that may import the SDK
	// (awsedge makes the calls; function wires it to the guard; tracing is
	// the one package that knows the tracer, X-Ray today).
	// shared/cli wires the same edge and guard for the snskeyguard command.
	edge = []string{"shared/awsedge", "shared/cli", "shared/function", "shared/telemetry/tracing"}
	// entry points: wiring only; each imports shared/function and nothing
	// else outside the standard library.
	entries = []string{"functions/config-rule", "functions/key-guard", "functions/topic-guard"}
)

// sdk are the import path prefixes of the AWS SDKs (v1 and v2), X-Ray and smithy.
var sdk = []string{"github.com/aws/aws-sdk-go", "github.com/aws/aws-xray-sdk-go", "github.com/aws/smithy-go"}

type pkg struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Deps       []string
}

func TestImportRules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed to list packages: %v", err)
	}
	cmd := exec.Command("go", "list", "-json=ImportPath,Standard,Imports,Deps", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs, err := decode(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range check(pkgs) {
		t.Error(v)
	}
}

// TestImportRulesCanFail feeds check a module that breaks each rule once.
func TestImportRulesCanFail(t *testing.T) {
	m := func(p string) string { return module + "/" + p }
	var pkgs []pkg
	for _, p := range slices.Concat(pure, edge, entries) {
		pkgs = append(pkgs, pkg{ImportPath: m(p)})
	}
	set := func(path string, imports, deps []string) {
		for i := range pkgs {
			if pkgs[i].ImportPath == m(path) {
				pkgs[i].Imports, pkgs[i].Deps = imports, deps
			}
		}
	}
	pkgs = append(pkgs, pkg{ImportPath: m("internal/emulator"), Imports: []string{"github.com/aws/aws-sdk-go-v2/aws"}})
	if v := check(pkgs); len(v) != 0 {
		t.Fatalf("a clean module breaks the rules: %v", v)
	}
	set("shared/plan", nil, []string{"github.com/aws/smithy-go"})
	set("shared/awsedge", []string{m("internal/emulator")}, []string{m("internal/emulator")})
	set("functions/key-guard", []string{m("shared/guard"), "github.com/aws/aws-lambda-go/lambda"}, nil)
	set("shared/function", []string{"github.com/aws/aws-sdk-go-v2/aws"}, nil) // allowed
	set("functions/topic-guard", []string{m("shared/function")}, []string{"github.com/aws/aws-sdk-go/aws/endpoints"})
	pkgs = slices.DeleteFunc(pkgs, func(p pkg) bool { return p.ImportPath == m("shared/cost") })
	got := strings.Join(check(pkgs), "\n")
	for _, want := range []string{
		"shared/plan is pure but depends on github.com/aws/smithy-go",
		"shared/awsedge is product code but depends on tooling package internal/emulator",
		"functions/key-guard imports shared/guard: an entry point imports only shared/function",
		"functions/key-guard imports github.com/aws/aws-lambda-go/lambda: an entry point imports only shared/function",
		"shared/cost is listed as a product package but does not exist",
		"functions/topic-guard depends on the v1 AWS SDK: github.com/aws/aws-sdk-go/aws/endpoints",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing violation %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\nshared/function ") || strings.HasPrefix(got, "shared/function ") {
		t.Errorf("shared/function may import the SDK:\n%s", got)
	}
}

// check returns every broken import rule.
func check(pkgs []pkg) []string {
	rel := func(p string) (string, bool) {
		if p == module {
			return ".", true
		}
		return strings.CutPrefix(p, module+"/")
	}
	byPath := map[string]pkg{}
	for _, p := range pkgs {
		if r, ok := rel(p.ImportPath); ok {
			byPath[r] = p
		}
	}
	product := slices.Concat(pure, edge, entries)
	var bad []string
	for _, name := range product {
		p, ok := byPath[name]
		if !ok {
			bad = append(bad, name+" is listed as a product package but does not exist")
			continue
		}
		// Deps is sorted and transitive: the first offender of each kind is
		// named, with how many more there are.
		var tooling, sdkDeps, v1 []string
		for _, d := range p.Deps {
			// The v1 AWS SDK cost 17-23 ms of package init on every cold
			// start (it came with aws-xray-sdk-go v1): nothing ships it.
			if strings.HasPrefix(d, "github.com/aws/aws-sdk-go/") {
				v1 = append(v1, d)
			}
			if r, ok := rel(d); ok && !slices.Contains(product, r) {
				tooling = append(tooling, r)
			}
			if slices.Contains(pure, name) && isSDK(d) {
				sdkDeps = append(sdkDeps, d)
			}
		}
		if len(tooling) > 0 {
			bad = append(bad, name+" is product code but depends on tooling package "+tooling[0]+more(tooling))
		}
		if len(sdkDeps) > 0 {
			bad = append(bad, name+" is pure but depends on "+sdkDeps[0]+more(sdkDeps))
		}
		if len(v1) > 0 {
			bad = append(bad, name+" depends on the v1 AWS SDK: "+v1[0]+more(v1))
		}
	}
	for _, name := range entries {
		p, ok := byPath[name]
		if !ok {
			continue
		}
		for _, i := range p.Imports {
			if r, ok := rel(i); ok && r == "shared/function" {
				continue
			}
			if !strings.Contains(strings.SplitN(i, "/", 2)[0], ".") {
				continue // standard library
			}
			if r, ok := rel(i); ok {
				i = r
			}
			bad = append(bad, name+" imports "+i+": an entry point imports only shared/function")
		}
	}
	return bad
}

func more(list []string) string {
	if len(list) < 2 {
		return ""
	}
	return " (and " + strconv.Itoa(len(list)-1) + " more)"
}

func isSDK(path string) bool {
	for _, p := range sdk {
		if path == p || strings.HasPrefix(path, p+"/") || strings.HasPrefix(path, p+"-") {
			return true
		}
	}
	return false
}

// decode reads go list's stream of JSON objects.
func decode(out []byte) ([]pkg, error) {
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return pkgs, nil
		}
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
}
