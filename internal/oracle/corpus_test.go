package oracle_test

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
	"github.com/snskeyguard/snskeyguard/internal/oracle"
	"github.com/snskeyguard/snskeyguard/internal/rulecase"
	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// item is one key policy of the corpora with what is known of its topic.
type item struct {
	name     string
	policy   []byte
	topicARN string
	keyARN   string
	aliases  []string
	// principals are the service principals the item names (required,
	// topic-policy and discovered ones); cloudwatch, s3 and events are
	// always asked as well.
	principals []string
	// in is the whole judge input when the item is a topic (rule cases,
	// samples, generated policies): the judge's findings are compared too.
	in *rules.Input
}

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := emulator.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func glob(t testing.TB, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		// A corpus that moved must not silently drop out of the comparison.
		t.Fatalf("no corpus file matches %s", pattern)
	}
	sort.Strings(files)
	return files
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ruleCases are the rule cases as judge inputs (only those with a key policy),
// read by internal/rulecase as the rules tests read them.
func ruleCases(t testing.TB) []item {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "shared", "rules", "testdata")
	cases, err := rulecase.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []item
	for _, c := range cases {
		in, err := c.Input(dir)
		if err != nil {
			t.Fatal(err)
		}
		if in.Key == nil || len(in.Key.Policy) == 0 {
			continue
		}
		out = append(out, topicItem("case:"+c.File, in))
	}
	return out
}

// topicItem makes an item of a judge input.
func topicItem(name string, in rules.Input) item {
	it := item{name: name, policy: in.Key.Policy, topicARN: in.Topic.ARN, keyARN: in.Key.ARN, aliases: in.Key.Aliases, in: &in}
	it.principals = append(it.principals, in.Config.RequiredPrincipals...)
	for _, d := range in.Discovered {
		it.principals = append(it.principals, d.Principal)
	}
	for _, s := range topicPolicyServices(in.Topic.Policy) {
		it.principals = append(it.principals, s.principal)
	}
	return it
}

// samples are the key policies of shared/rules/testdata judged for CloudWatch,
// S3 and EventBridge, as shared/rules/samples_test.go does.
func samples(t testing.TB) []item {
	t.Helper()
	var out []item
	for _, f := range glob(t, filepath.Join(repoRoot(t), "shared", "rules", "testdata", "*.json")) {
		in := rules.Input{
			Topic: rules.Topic{ARN: oracle.TopicARN, KMSMasterKeyID: oracle.KeyARN},
			Key: &rules.Key{ARN: oracle.KeyARN, ID: "1234abcd-12ab-34cd-56ef-1234567890ab", Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT",
				Usage: "ENCRYPT_DECRYPT", State: "Enabled", Aliases: []string{"alias/orders"}, Policy: readFile(t, f)},
			Config: rules.Config{RequiredPrincipals: []string{"cloudwatch.amazonaws.com", "s3.amazonaws.com", "events.amazonaws.com"}},
		}
		out = append(out, topicItem("sample:"+filepath.Base(f), in))
	}
	return out
}

// policyFiles are bare key policies (no topic): the policy package's
// testdata, the reliability suite's odd and malformed-but-legal policies, and
// the planner's golden inputs and outputs.
func policyFiles(t testing.TB) []item {
	t.Helper()
	root := repoRoot(t)
	var out []item
	add := func(prefix string, files []string) {
		for _, f := range files {
			if _, err := os.Stat(f); err != nil {
				continue // a golden case that ends in an error has no want.json
			}
			rel, _ := filepath.Rel(root, f)
			out = append(out, item{name: prefix + rel, policy: readFile(t, f), topicARN: oracle.TopicARN, keyARN: oracle.KeyARN, aliases: []string{"alias/orders"}})
		}
	}
	add("file:", glob(t, filepath.Join(root, "shared", "policy", "testdata", "*.json")))
	add("file:", glob(t, filepath.Join(root, "internal", "reliability", "testdata", "policies", "*.json")))
	add("file:", glob(t, filepath.Join(root, "internal", "reliability", "testdata", "odd", "*.json")))
	for _, d := range glob(t, filepath.Join(root, "shared", "plan", "testdata", "golden", "*")) {
		add("golden:", []string{filepath.Join(d, "input.json"), filepath.Join(d, "want.json")})
	}
	return out
}

// dedupe keeps the first item of each (policy, topic, key, aliases) and
// unions the principals of the others into it.
func dedupe(items []item) []item {
	seen := map[[32]byte]int{}
	var out []item
	for _, it := range items {
		h := sha256.New()
		for _, s := range append([]string{string(it.policy), it.topicARN, it.keyARN}, it.aliases...) {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
		var k [32]byte
		copy(k[:], h.Sum(nil))
		if i, ok := seen[k]; ok && it.in == nil {
			out[i].principals = append(out[i].principals, it.principals...)
			continue
		}
		seen[k] = len(out)
		out = append(out, it)
	}
	return out
}

// topicService is a service the topic policy allows sns:Publish, with the
// concrete source ARNs and accounts it names for it.
type topicService struct {
	principal string
	arns      []string
	accounts  []string
	// open: some statement lets the service publish with no aws:SourceArn
	// condition, so every source of the account is accepted (docs/DESIGN.md).
	open bool
}

// topicPolicyServices reads the service principals a topic policy allows to
// publish, with exact (wildcard-free) aws:SourceArn and aws:SourceAccount values.
func topicPolicyServices(data []byte) []topicService {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	doc, err := policy.Parse(data)
	if err != nil {
		return nil
	}
	by := map[string]*topicService{}
	var order []string
	for _, s := range doc.Statements {
		if !s.IsAllow() || s.Principal == nil || s.Principal.Service == nil || !s.MatchesAction("sns:Publish") {
			continue
		}
		var arns, accts []string
		open := true
		for _, b := range s.Condition {
			op := policy.ParseOperator(b.Operator)
			if op.Negated || op.Qualifier != "" || op.Base == "Null" {
				continue
			}
			for _, k := range b.Keys {
				for _, v := range k.Values.Items {
					if strings.ContainsAny(v, "*?$") {
						continue
					}
					switch strings.ToLower(k.Key) {
					case "aws:sourcearn":
						open = false
						arns = append(arns, v)
					case "aws:sourceaccount":
						accts = append(accts, v)
					}
				}
			}
		}
		for _, p := range s.Principal.Service.Items {
			p = strings.ToLower(strings.TrimSpace(p))
			ts := by[p]
			if ts == nil {
				ts = &topicService{principal: p}
				by[p] = ts
				order = append(order, p)
			}
			ts.arns = append(ts.arns, arns...)
			ts.accounts = append(ts.accounts, accts...)
			ts.open = ts.open || open
		}
	}
	out := make([]topicService, 0, len(order))
	for _, p := range order {
		out = append(out, *by[p])
	}
	return out
}
