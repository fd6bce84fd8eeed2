package bench

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// serviceClients lists the AWS SDK service packages ("sns", "kms", ...) the
// non-test Go files of dir import.
func serviceClients(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if svc, ok := strings.CutPrefix(p, "github.com/aws/aws-sdk-go-v2/service/"); ok && !strings.Contains(svc, "/") && !slices.Contains(out, svc) {
				out = append(out, svc)
			}
		}
	}
	slices.Sort(out)
	return out
}

// The cold-start baseline builds the clients the guard builds
// (shared/awsedge), so coldstart_ratio compares like with like: a client
// added to the guard and not to the baseline would be charged to the guard.
func TestBaselineBuildsTheGuardsClients(t *testing.T) {
	guard := serviceClients(t, filepath.Join("..", "..", "shared", "awsedge"))
	base := serviceClients(t, "baseline")
	if len(guard) == 0 || !slices.Equal(guard, base) {
		t.Fatalf("shared/awsedge imports the service clients %v, the baseline %v", guard, base)
	}
}
