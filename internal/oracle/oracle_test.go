package oracle_test

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snskeyguard/snskeyguard/internal/oracle"
	"github.com/snskeyguard/snskeyguard/shared/plan"
	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

const (
	cloudwatch = "cloudwatch.amazonaws.com"
	s3         = "s3.amazonaws.com"
	events     = "events.amazonaws.com"
)

// The KMS actions SNS calls for a publisher.
const (
	actGDK = "kms:GenerateDataKey"
	actDec = "kms:Decrypt"
)

// genCount is how many generated policies the differential test feeds both
// evaluators (ORACLE_GENERATED overrides it for longer runs).
func genCount(t testing.TB) int {
	if v := os.Getenv("ORACLE_GENERATED"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("ORACLE_GENERATED=%q: want a count", v)
		}
		return n
	}
	return 2000
}

// issue is one disagreement between the engine and the oracle, or one
// widening a fix brings.
type issue struct {
	kind      string // "request", "judge" or "widen"
	item      string
	principal string
	action    string // widen only
	ctx       string // "own", "other" or "none" (source of the request)
	engine    string
	oracle    string
	policy    []byte // the policy judged (for widen: the fixed policy)
	before    []byte // widen only: the policy before the fix
	context   oracle.Ctx
	keyARN    string
	// recheck reports whether a judge issue still shows on another policy
	// (for minimal reproductions).
	recheck func(t testing.TB, op *oracle.Policy, policy []byte, engine, oracle string) bool
}

func (is *issue) String() string {
	switch is.kind {
	case "widen":
		return fmt.Sprintf("widen %s: %s %s (%s source) was %s, is Allowed after the fix", is.item, is.principal, is.action, is.ctx, is.engine)
	case "judge":
		return fmt.Sprintf("judge %s: %s (%s source): Evaluate says %s, oracle %s", is.item, is.principal, is.ctx, is.engine, is.oracle)
	}
	return fmt.Sprintf("request %s: %s (%s source): engine %s, oracle %s", is.item, is.principal, is.ctx, is.engine, is.oracle)
}

// decidePair asks the oracle for both SNS actions: explicitly denied when
// either is, allowed when both are.
func decidePair(t testing.TB, op *oracle.Policy, principal, keyARN string, ctx oracle.Ctx) oracle.Decision {
	t.Helper()
	res := oracle.Allowed
	c := ctx.Oracle()
	ds, err := op.DecideMany([]oracle.Request{
		{Principal: principal, Action: actGDK, Resource: keyARN, ResourceAccount: accountOf(keyARN), Context: c},
		{Principal: principal, Action: actDec, Resource: keyARN, ResourceAccount: accountOf(keyARN), Context: c},
	})
	if err != nil {
		t.Fatalf("oracle %s: %v", principal, err)
	}
	for _, d := range ds {
		switch {
		case d == oracle.ExplicitlyDenied:
			res = oracle.ExplicitlyDenied
		case d == oracle.ImplicitlyDenied && res == oracle.Allowed:
			res = oracle.ImplicitlyDenied
		}
	}
	return res
}

func accountOf(arn string) string {
	if f := strings.SplitN(arn, ":", 6); len(f) == 6 && f[4] != "" {
		return f[4]
	}
	return oracle.Account
}

func regionOf(arn string) string {
	if f := strings.SplitN(arn, ":", 6); len(f) == 6 && f[3] != "" {
		return f[3]
	}
	return oracle.Region
}

func normPrincipals(ps []string) []string {
	set := map[string]bool{}
	for _, p := range ps {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" || strings.ContainsAny(p, "*?") {
			continue
		}
		set[p] = true
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// requestSources are the sources asked for a principal: its own account's
// and another account's, or none for EventBridge.
func requestSources(p, topicARN string) []struct {
	label string
	src   oracle.Source
} {
	type ls = struct {
		label string
		src   oracle.Source
	}
	if !oracle.SourceKeys(p) {
		return []ls{{"none", oracle.Source{}}}
	}
	region := regionOf(topicARN)
	return []ls{
		{"own", oracle.OwnSource(p, region, accountOf(topicARN))},
		{"other", oracle.OwnSource(p, region, oracle.OtherAccount)},
	}
}

// differential holds the counts and issues of one run.
type differential struct {
	cases, judged, rejected, unparseable int
	issues                               []*issue
	rejectedNames                        []string
	// asked caches the oracle's pair decisions of the current policy: the
	// judge's own-source request is usually one the request check asked.
	asked map[string]oracle.Decision
}

func (d *differential) pair(t testing.TB, op *oracle.Policy, principal, keyARN string, ctx oracle.Ctx) oracle.Decision {
	t.Helper()
	b, _ := json.Marshal(ctx) // map keys are sorted: one text per context
	k := principal + "|" + keyARN + "|" + string(b)
	if dec, ok := d.asked[k]; ok {
		return dec
	}
	dec := decidePair(t, op, principal, keyARN, ctx)
	d.asked[k] = dec
	return dec
}

// checkRequests compares the engine's grant verdict (rules.GrantVerdict: the
// deny and allow checks Evaluate makes) with the oracle's for every principal
// and source of the item, on the same fully known request.
func (d *differential) checkRequests(t testing.TB, sim *oracle.Sim, it item) *oracle.Policy {
	t.Helper()
	doc, err := policy.Parse(it.policy)
	if err != nil {
		d.unparseable++
		return nil
	}
	op, err := sim.Load(it.policy)
	if err != nil {
		t.Fatalf("%s: %v", it.name, err)
	}
	d.asked = map[string]oracle.Decision{}
	if len(op.Errors) > 0 {
		d.rejected++
		d.rejectedNames = append(d.rejectedNames, it.name+": "+strings.Join(op.Errors, "; "))
		return nil
	}
	for _, p := range normPrincipals(append([]string{cloudwatch, s3, events}, it.principals...)) {
		for _, rs := range requestSources(p, it.topicARN) {
			ctx := oracle.SNSContext(p, it.topicARN, it.keyARN, it.aliases, rs.src)
			eng := rules.GrantVerdict(doc, it.keyARN, p, ctx.Engine())
			orc := d.pair(t, op, p, it.keyARN, ctx)
			d.cases++
			if string(eng) != string(orc) {
				d.issues = append(d.issues, &issue{kind: "request", item: it.name, principal: p, ctx: rs.label,
					engine: string(eng), oracle: string(orc), policy: it.policy, context: ctx, keyARN: it.keyARN})
			}
		}
	}
	return op
}

// stopCodes end Evaluate before the grants are judged.
var stopCodes = map[rules.Code]bool{
	rules.TopicUnencrypted: true, rules.KeyAWSManaged: true, rules.KeyNotSymmetric: true, rules.KeyNotFound: true,
	rules.KeyAccessDenied: true, rules.KeyPendingDeletion: true, rules.KeyOtherRegion: true, rules.PolicyUnparseable: true,
}

// checkJudge compares Evaluate's findings for each judged principal with the
// oracle's decision on the request SNS really makes from the topic's own
// source: a finding that says publishing fails (GRANT_MISSING, a certain
// GRANT_DENIED, CONFUSED_DEPUTY_UNSUPPORTED, a CONFUSED_DEPUTY_MISMATCH that
// leaves no grant) while the oracle allows is a disagreement; so is no such
// finding while the oracle denies, when the engine knew the exact source
// (discovered, named by the topic policy, or none: EventBridge).
func (d *differential) checkJudge(t testing.TB, op *oracle.Policy, it item) {
	t.Helper()
	if it.in == nil || op == nil {
		return
	}
	r := rules.Evaluate(*it.in)
	byP := map[string][]rules.Finding{}
	for _, f := range r.Findings {
		if stopCodes[f.Code] {
			return
		}
		if f.Principal != "" {
			p := strings.ToLower(strings.TrimSpace(f.Principal))
			byP[p] = append(byP[p], f)
		}
	}
	judged := append([]string{}, it.in.Config.RequiredPrincipals...)
	for _, dp := range it.in.Discovered {
		judged = append(judged, dp.Principal)
	}
	for p := range byP {
		judged = append(judged, p)
	}
	ts := map[string]topicService{}
	for _, s := range topicPolicyServices(it.in.Topic.Policy) {
		ts[s.principal] = s
	}
	for _, p := range normPrincipals(judged) {
		fails, uncertain, deputy, codes := false, false, false, []string{}
		skip := false
		for _, f := range byP[p] {
			codes = append(codes, string(f.Code))
			switch f.Code {
			case rules.SourceNeedsRole:
				skip = true
			case rules.GrantMissing, rules.ConfusedDeputyUnsupported:
				// An uncertain GRANT_MISSING depends on a key whose value
				// is not known here: not a decided verdict to compare.
				if f.Uncertain {
					uncertain = true
				} else {
					fails = true
				}
			case rules.GrantDenied:
				if f.Uncertain {
					uncertain = true
				} else {
					fails = true
				}
			case rules.ConfusedDeputyMismatch:
				// The grant-level mismatch says publishing fails; the
				// path-level one (a grant exists) does not.
				if strings.Contains(f.Message, "fail with KMSAccessDeniedException") {
					fails = true
				}
				deputy = true
			case rules.ConfusedDeputyMissing:
				deputy = true
			}
		}
		if skip {
			continue
		}
		src, exact := d.ownSource(it, p, ts)
		ctx := oracle.SNSContext(p, it.topicARN, it.keyARN, it.aliases, src)
		orc := d.pair(t, op, p, it.keyARN, ctx)
		d.judged++
		eng := "granted"
		if fails {
			eng = "fails (" + strings.Join(codes, ",") + ")"
		} else if uncertain {
			eng = "uncertain (" + strings.Join(codes, ",") + ")"
		}
		in := *it.in
		recheck := func(t testing.TB, op *oracle.Policy, b []byte, wantEngine, wantOracle string) bool {
			in2 := in
			k := *in.Key
			k.Policy, k.Parsed = b, nil
			in2.Key = &k
			var codes []string
			for _, f := range rules.Evaluate(in2).Findings {
				if strings.EqualFold(f.Principal, p) {
					codes = append(codes, string(f.Code))
				}
			}
			return strings.Contains(wantEngine, "("+strings.Join(codes, ",")+")") == strings.Contains(wantEngine, "(") &&
				string(decidePair(t, op, p, it.keyARN, ctx)) == wantOracle
		}
		switch {
		case fails && orc == oracle.Allowed,
			!fails && !uncertain && orc != oracle.Allowed && exact:
			d.issues = append(d.issues, &issue{kind: "judge", item: it.name, principal: p, ctx: "own", engine: eng,
				oracle: string(orc), policy: it.policy, context: ctx, keyARN: it.keyARN, recheck: recheck})
		}
		// A grant judged protected against confused deputies must not
		// serve another account's sources: the oracle asks the request
		// of another account's resource.
		if !fails && !uncertain && !deputy && oracle.SourceKeys(p) && orc == oracle.Allowed {
			octx := oracle.SNSContext(p, it.topicARN, it.keyARN, it.aliases, oracle.OwnSource(p, regionOf(it.topicARN), oracle.OtherAccount))
			if od := d.pair(t, op, p, it.keyARN, octx); od == oracle.Allowed {
				d.issues = append(d.issues, &issue{kind: "judge", item: it.name, principal: p, ctx: "other", engine: "protected (no CONFUSED_DEPUTY finding)",
					oracle: string(od), policy: it.policy, context: octx, keyARN: it.keyARN})
			}
		}
	}
}

// ownSource is the source of p's requests as the topic knows it: a
// discovered source, the exact source the topic policy names, none for
// EventBridge, or (exact=false) an example source of the topic's account.
func (d *differential) ownSource(it item, p string, ts map[string]topicService) (src oracle.Source, exact bool) {
	if !oracle.SourceKeys(p) {
		return oracle.Source{}, true
	}
	acct, region := accountOf(it.topicARN), regionOf(it.topicARN)
	for _, dp := range it.in.Discovered {
		if strings.EqualFold(strings.TrimSpace(dp.Principal), p) && dp.SourceARN != "" {
			a := acct
			if x := accountOf(dp.SourceARN); x != oracle.Account || strings.Contains(dp.SourceARN, oracle.Account) {
				a = x
			}
			return oracle.Source{Account: a, ARN: dp.SourceARN}, true
		}
	}
	if s, ok := ts[p]; ok && s.open {
		// The topic accepts every source of the account: the key must too,
		// so any source of it is the request to ask.
		return oracle.OwnSource(p, region, acct), true
	}
	if s, ok := ts[p]; ok && len(s.arns) > 0 {
		a := acct
		if len(s.accounts) > 0 {
			a = s.accounts[0]
		} else if f := strings.SplitN(s.arns[0], ":", 6); len(f) == 6 && f[4] != "" {
			a = f[4]
		}
		return oracle.Source{Account: a, ARN: s.arns[0]}, true
	}
	return oracle.OwnSource(p, region, acct), false
}

// generatedItem is the i-th generated policy as a topic: CloudWatch
// discovered with an exact alarm, S3 named by the topic policy with an exact
// bucket, EventBridge required, so the judge knows every source exactly.
func generatedItem(i int) item {
	alarm := oracle.ExampleSourceARN(cloudwatch, oracle.Region, oracle.Account)
	bucket := oracle.ExampleSourceARN(s3, oracle.Region, oracle.Account)
	topicPolicy, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect": "Allow", "Principal": map[string]any{"Service": s3}, "Action": "sns:Publish", "Resource": oracle.TopicARN,
			"Condition": map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": oracle.Account}, "ArnLike": map[string]any{"aws:SourceArn": bucket}},
		}},
	})
	in := rules.Input{
		Topic: rules.Topic{ARN: oracle.TopicARN, KMSMasterKeyID: oracle.KeyARN, Policy: topicPolicy},
		Key: &rules.Key{ARN: oracle.KeyARN, ID: "1234abcd-12ab-34cd-56ef-1234567890ab", Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT",
			Usage: "ENCRYPT_DECRYPT", State: "Enabled", Aliases: []string{"alias/orders"}, Policy: generated(i)},
		Discovered: []rules.Publisher{{Principal: cloudwatch, SourceARN: alarm}},
		Config:     rules.Config{RequiredPrincipals: []string{events}},
	}
	return topicItem("gen:"+strconv.Itoa(i), in)
}

// TestOracleDifferential feeds every key policy of the corpora and the
// generated stream to the engine and to the oracle and requires the same
// verdicts, beyond the simulator limitations and the known engine bugs
// listed in known_test.go.
func TestOracleDifferential(t *testing.T) {
	t.Parallel() // its own oracle process: runs beside TestNeverWiden
	sim := oracle.Require(t)
	start := time.Now()
	var items []item
	items = append(items, ruleCases(t)...)
	items = append(items, samples(t)...)
	items = append(items, policyFiles(t)...)
	for _, e := range classExamples {
		it := generatedItem(0)
		it.name = "example:" + e.name
		it.policy = []byte(e.policy)
		it.in.Key.Policy = it.policy
		items = append(items, it)
	}
	items = dedupe(items)
	corpus := len(items)
	for i := range genCount(t) {
		items = append(items, generatedItem(i))
	}
	d := &differential{}
	for _, it := range items {
		op := d.checkRequests(t, sim, it)
		d.checkJudge(t, op, it)
	}
	if err := sim.Reset(); err != nil {
		t.Fatal(err)
	}
	limited, bugs, other := classify(d.issues)
	fmt.Printf("oracle_policies=%d (corpus %d, generated %d) oracle_rejected=%d engine_unparseable=%d oracle_calls=%d\n",
		len(items), corpus, len(items)-corpus, d.rejected, d.unparseable, sim.Calls())
	fmt.Printf("request_cases=%d judge_cases=%d simulator_limitations=%d (%d kinds)\n", d.cases, d.judged, countAll(limited), len(limited))
	// The disagreements count everything beyond the simulator's listed
	// limitations; the test fails only on those not listed as known engine bugs.
	fmt.Printf("oracle_cases=%d oracle_disagreements=%d (known engine bugs %d, unexplained %d; %s)\n",
		d.cases+d.judged, countAll(bugs)+len(other), countAll(bugs), len(other), time.Since(start).Round(time.Millisecond))
	for _, n := range d.rejectedNames {
		t.Logf("oracle rejects (not compared): %s", n)
	}
	report(t, sim, "request judge", limited, bugs, other)
	if d.cases < 1000 {
		t.Errorf("only %d requests compared", d.cases)
	}
}

// ranKind reports whether a test that compares the issue kinds ran (for
// example "request judge") could have met an entry of the given kinds.
func ranKind(entryKinds, ran string) bool {
	for _, k := range strings.Fields(entryKinds) {
		if strings.Contains(" "+ran+" ", " "+k+" ") {
			return true
		}
	}
	return false
}

// report logs the counts per known entry and fails on every other issue,
// each with a minimal reproduction.
func report(t *testing.T, sim *oracle.Sim, kinds string, limited, bugs map[string][]*issue, other []*issue) {
	t.Helper()
	for _, k := range limitations {
		if n := len(limited[k.id]); n > 0 {
			t.Logf("limitation %s: %d (%s), e.g. %s", k.id, n, k.url, limited[k.id][0])
			if os.Getenv("ORACLE_VERBOSE") != "" {
				for _, is := range limited[k.id] {
					t.Logf("  %s\n    %s", is, compact(is.policy))
				}
			}
		}
	}
	for _, k := range knownEngineBugs {
		n := len(bugs[k.id])
		if n > 0 {
			is := bugs[k.id][0]
			t.Logf("known engine bug %s: %d, e.g. %s\n    policy: %s\n    minimal: %s", k.id, n, is, compact(is.policy), minimal(t, sim, is))
			if os.Getenv("ORACLE_VERBOSE") != "" {
				for _, is := range bugs[k.id] {
					t.Logf("  %s", is)
				}
			}
			continue
		}
		// An entry that no longer matches anything is a fixed bug: the
		// table must shrink with the fixes (only checked on the full run).
		if ranKind(k.kinds, kinds) && os.Getenv("ORACLE_GENERATED") == "" {
			t.Errorf("known engine bug %s no longer occurs: remove it from knownEngineBugs", k.id)
		}
	}
	shown := map[string]int{}
	for _, is := range other {
		sig := is.kind + "|" + is.principal + "|" + is.ctx + "|" + is.engine + "|" + is.oracle
		shown[sig]++
		if shown[sig] > 3 {
			continue
		}
		t.Errorf("%s\npolicy: %s\nminimal: %s", is, compact(is.policy), minimal(t, sim, is))
	}
	if len(other) > 0 {
		t.Errorf("%d disagreements beyond the listed limitations and known engine bugs (at most 3 shown per kind)", len(other))
	}
}

func compact(b []byte) string {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return string(b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// classify splits issues into simulator limitations, known engine bugs and
// the rest. A judge issue whose request (same policy, principal and own
// source) already disagrees is classified as that request.
func classify(all []*issue) (limited, bugs map[string][]*issue, other []*issue) {
	limited, bugs = map[string][]*issue{}, map[string][]*issue{}
	byRequest := map[string]string{} // item|principal|ctx -> "limit:id", "bug:id" or "other"
	put := func(is *issue, class string) {
		switch {
		case strings.HasPrefix(class, "limit:"):
			id := strings.TrimPrefix(class, "limit:")
			limited[id] = append(limited[id], is)
		case strings.HasPrefix(class, "bug:"):
			id := strings.TrimPrefix(class, "bug:")
			bugs[id] = append(bugs[id], is)
		default:
			other = append(other, is)
		}
	}
	own := func(is *issue) string {
		class := "other"
		for _, k := range limitations {
			// A widening is judged by the oracle alone, before and after
			// the fix: no limitation of the simulator excuses it.
			if is.kind != "widen" && k.match(is) {
				return "limit:" + k.id
			}
		}
		for _, k := range knownEngineBugs {
			if k.match(is) {
				return "bug:" + k.id
			}
		}
		return class
	}
	for _, is := range all {
		if is.kind == "request" {
			c := own(is)
			byRequest[is.item+"|"+is.principal+"|"+is.ctx] = c
			put(is, c)
		}
	}
	for _, is := range all {
		if is.kind == "request" {
			continue
		}
		c := own(is)
		if c == "other" && is.kind == "judge" {
			if rc, ok := byRequest[is.item+"|"+is.principal+"|"+is.ctx]; ok {
				c = rc
			}
		}
		put(is, c)
	}
	return limited, bugs, other
}

// TestNeverWiden checks every planned fix of the corpora, the goldens and a
// bounded number of generated policies with the oracle: after the fix, no
// principal may do anything in any context that it could not do before,
// except the required principals' kms:GenerateDataKey/kms:Decrypt from their
// own account's sources (EventBridge: its requests carry no source keys).
func TestNeverWiden(t *testing.T) {
	t.Parallel()
	sim := oracle.Require(t)
	start := time.Now()
	fixes := plannedFixes(t)
	checked := 0
	var all []*issue
	for _, f := range fixes {
		all = append(all, checkFix(t, sim, f)...)
		checked++
	}
	limited, bugs, other := classify(all)
	fixesWidened := map[string]bool{}
	for _, is := range all {
		fixesWidened[is.item] = true
	}
	fmt.Printf("fixes_checked=%d widened=%d (grid cells newly allowed beyond the required grants, in %d fixes; known engine bugs %d, unexplained %d; %s, %d oracle calls)\n",
		checked, countAll(bugs)+len(other)+countAll(limited), len(fixesWidened), countAll(bugs), len(other), time.Since(start).Round(time.Millisecond), sim.Calls())
	report(t, sim, "widen", limited, bugs, other)
	if checked < 30 {
		t.Errorf("only %d fixes checked", checked)
	}
}

func countAll(m map[string][]*issue) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

// fix is one planned key-policy change.
type fix struct {
	name          string
	before, after []byte
	grants        []rules.Grant
	topicARN      string
	keyARN        string
	aliases       []string
}

// maxGeneratedFixes bounds the generated policies whose fixes are checked
// (each check asks the oracle a few hundred requests).
const maxGeneratedFixes = 30

// plannedFixes plans the fix of every corpus topic with fixable findings
// (as the guard does: Evaluate, MergeGrants, plan.Fix), every golden case,
// and the first generated policies that have one.
func plannedFixes(t testing.TB) []fix {
	t.Helper()
	var out []fix
	fromInput := func(name string, in rules.Input) bool {
		r := rules.Evaluate(in)
		if len(r.Grants) == 0 {
			return false
		}
		grants := rules.MergeGrants(r.Grants)
		ch, err := plan.Fix(in.Key.Policy, grants)
		if err != nil || !ch.Changed {
			return false
		}
		out = append(out, fix{name: name, before: in.Key.Policy, after: ch.Policy, grants: grants, topicARN: in.Topic.ARN, keyARN: in.Key.ARN, aliases: in.Key.Aliases})
		return true
	}
	for _, it := range append(ruleCases(t), samples(t)...) {
		fromInput(it.name, *it.in)
	}
	root := repoRoot(t)
	for _, dir := range glob(t, root+"/shared/plan/testdata/golden/*") {
		input := readFile(t, dir+"/input.json")
		var grants []rules.Grant
		if err := json.Unmarshal(readFile(t, dir+"/grants.json"), &grants); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		ch, err := plan.Fix(input, grants)
		if err != nil || !ch.Changed {
			continue
		}
		name := "golden:" + dir[strings.LastIndexByte(dir, '/')+1:]
		out = append(out, fix{name: name, before: input, after: ch.Policy, grants: grants, topicARN: oracle.TopicARN, keyARN: oracle.KeyARN, aliases: []string{"alias/orders"}})
	}
	for _, e := range widenExamples {
		in := generatedItem(0).in
		in.Key.Policy = []byte(e.policy)
		in.Config.RequiredPrincipals = e.required
		in.Discovered = nil
		in.Topic.Policy = nil
		if !fromInput("example:"+e.name, *in) {
			t.Errorf("example %s: no fix planned", e.name)
		}
	}
	n := 0
	for i := 0; n < maxGeneratedFixes && i < genCount(t); i++ {
		it := generatedItem(i)
		if _, err := policy.Parse(it.policy); err != nil {
			continue
		}
		if fromInput(it.name, *it.in) {
			n++
		}
	}
	return out
}

// classExamples are key policies of the classes of misjudgement the
// engine is known to have had, judged for CloudWatch (an exact alarm
// discovered), S3 (an exact bucket in the topic policy) and EventBridge.
var classExamples = []struct{ name, policy string }{
	{"deny-without-encryption-context", `{"Version":"2012-10-17","Statement":[` + rootStatement + `,
		{"Sid":"cw","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",
		 "Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"},"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}},
		{"Sid":"deny","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Null":{"kms:EncryptionContextKeys":"true"}}}]}`},
	{"grant-narrowed-by-alias", `{"Version":"2012-10-17","Statement":[` + rootStatement + `,
		{"Sid":"cw","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",
		 "Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"},"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"},
		 "ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/orders"}}}]}`},
	{"variable-naming-absent-key", `{"Version":"2012-10-17","Statement":[` + rootStatement + `,
		{"Sid":"cw","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",
		 "Condition":{"StringEquals":{"aws:SourceAccount":["${aws:PrincipalOrgID}","111122223333"]},"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}},
		{"Sid":"deny","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*",
		 "Condition":{"StringNotEquals":{"aws:SourceAccount":["${aws:PrincipalOrgID}","777788889999"]}}}]}`},
	{"source-account-compared-with-principal-account", `{"Version":"2012-10-17","Statement":[` + rootStatement + `,
		{"Sid":"cw","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",
		 "Condition":{"StringEquals":{"aws:SourceAccount":"${aws:PrincipalAccount}"},"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}}]}`},
	{"source-account-any-twelve-characters", `{"Version":"2012-10-17","Statement":[` + rootStatement + `,
		{"Sid":"cw","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",
		 "Condition":{"StringLike":{"aws:SourceAccount":"????????????"},"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:*:*:alarm:*"}}}]}`},
	{"cloudwatch-pinned-to-s3-arns", `{"Version":"2012-10-17","Statement":[` + rootStatement + `,
		{"Sid":"cw","Effect":"Allow","Principal":{"Service":["cloudwatch.amazonaws.com","s3.amazonaws.com"]},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",
		 "Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"},"ArnLike":{"aws:SourceArn":"arn:aws:s3:::*"}}}]}`},
	{"publisher-role-denied", `{"Version":"2012-10-17","Statement":[` + rootStatement + `,
		{"Sid":"deny","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:role/publisher"},"Action":"kms:*","Resource":"*"}]}`},
}

// widenExamples are policies whose fixes exercise the never-widen check
// where the planner edits statements that grant more than SNS needs.
var widenExamples = []struct {
	name     string
	policy   string
	required []string
}{
	{"events-in-conditioned-kms-star", `{"Version":"2012-10-17","Statement":[
		{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"services","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"kms:*","Resource":"*",
		 "Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"},"ArnLike":{"aws:SourceArn":"arn:aws:events:us-east-1:111122223333:rule/*"}}}]}`,
		[]string{events}},
	{"events-in-conditioned-notaction", `{"Version":"2012-10-17","Statement":[
		{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"services","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"NotAction":"kms:ScheduleKeyDeletion","Resource":"*",
		 "Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}}]}`,
		[]string{events}},
}

// The grid of the never-widen check.
var (
	gridActions = []string{"kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt", "kms:ReEncryptFrom", "kms:CreateGrant",
		"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey"}
	otherServices = []string{cloudwatch, s3, events, "lambda.amazonaws.com"}
	otherRoot     = "arn:aws:iam::" + oracle.OtherAccount + ":root"
	accountRole   = "arn:aws:iam::" + oracle.Account + ":role/oracle-role"
)

type cell struct{ principal, action, ctx string }

// gridCell is one request of the grid.
type gridCell struct {
	cell
	req oracle.Request
}

// gridFor builds the grid of requests for a fix: the required services,
// other services, another account's root and a role of the account; every
// action of gridActions; the own account's source, another account's
// source, and no source keys.
func gridFor(f fix) []gridCell {
	acct, region := accountOf(f.topicARN), regionOf(f.topicARN)
	required := map[string]rules.Grant{}
	for _, g := range f.grants {
		required[strings.ToLower(g.Principal)] = g
	}
	var principals []string
	for p := range required {
		principals = append(principals, p)
	}
	principals = append(principals, otherServices...)
	principals = normPrincipals(principals)
	srcFor := func(p, account string) oracle.Source {
		arn := oracle.ExampleSourceARN(p, region, account)
		if arn == "" {
			arn = "arn:aws:events:" + region + ":" + account + ":rule/oracle-rule"
		}
		if g, ok := required[p]; ok && account == acct && len(g.SourceARNs) > 0 {
			arn = strings.NewReplacer("*", "oracle-source", "?", "x").Replace(g.SourceARNs[0])
			if len(g.SourceAccounts) > 0 {
				account = g.SourceAccounts[0]
			}
		}
		return oracle.Source{Account: account, ARN: arn}
	}
	var out []gridCell
	for _, p := range principals {
		for _, c := range []struct {
			label string
			src   oracle.Source
		}{{"own", srcFor(p, acct)}, {"other", srcFor(p, oracle.OtherAccount)}, {"none", oracle.Source{}}} {
			ctx := oracle.SNSContext(p, f.topicARN, f.keyARN, f.aliases, c.src).Oracle()
			for _, a := range gridActions {
				out = append(out, gridCell{cell{p, a, c.label}, oracle.Request{Principal: p, Action: a, Resource: f.keyARN, ResourceAccount: accountOf(f.keyARN), Context: ctx}})
			}
		}
	}
	for _, p := range []string{otherRoot, accountRole} {
		for _, c := range []struct {
			label string
			src   oracle.Source
		}{{"own", oracle.Source{Account: acct, ARN: "arn:aws:cloudwatch:" + region + ":" + acct + ":alarm:oracle-alarm"}}, {"other", oracle.Source{Account: oracle.OtherAccount, ARN: "arn:aws:cloudwatch:" + region + ":" + oracle.OtherAccount + ":alarm:oracle-alarm"}}, {"none", oracle.Source{}}} {
			ctx := oracle.PrincipalContext(p, f.keyARN)
			if !c.src.None() {
				ctx["aws:SourceAccount"] = []string{c.src.Account}
				ctx["aws:SourceArn"] = []string{c.src.ARN}
			}
			for _, a := range gridActions {
				out = append(out, gridCell{cell{p, a, c.label}, oracle.Request{Principal: p, Action: a, Resource: f.keyARN, ResourceAccount: accountOf(f.keyARN), Context: ctx.Oracle(), IdentityAllowAll: true}})
			}
		}
	}
	return out
}

// permitted reports whether a new allow is one a fix may bring.
func permitted(f fix, c cell) bool {
	if c.action != actGDK && c.action != actDec {
		return false
	}
	for _, g := range f.grants {
		if strings.EqualFold(g.Principal, c.principal) {
			// EventBridge's requests never carry source keys, so its
			// unconditioned grant is what it needs in every context.
			return c.ctx == "own" || !oracle.SourceKeys(c.principal)
		}
	}
	return false
}

// checkFix evaluates the grid before and after one fix.
func checkFix(t testing.TB, sim *oracle.Sim, f fix) []*issue {
	t.Helper()
	before, err := sim.Load(f.before)
	if err != nil {
		t.Fatal(err)
	}
	after, err := sim.Load(f.after)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Errors) > 0 {
		t.Logf("%s: oracle rejects the policy before the fix (not checked): %v", f.name, before.Errors)
		return nil
	}
	if len(after.Errors) > 0 {
		t.Errorf("%s: the fixed policy is rejected by the oracle: %v\n%s", f.name, after.Errors, f.after)
		return nil
	}
	var out []*issue
	grid := gridFor(f)
	reqs := make([]oracle.Request, len(grid))
	for i, gc := range grid {
		reqs[i] = gc.req
	}
	bs, err := before.DecideMany(reqs)
	if err != nil {
		t.Fatalf("%s: %v", f.name, err)
	}
	as, err := after.DecideMany(reqs)
	if err != nil {
		t.Fatalf("%s: %v", f.name, err)
	}
	for i, gc := range grid {
		b, a := bs[i], as[i]
		if a == oracle.Allowed && b != oracle.Allowed && !permitted(f, gc.cell) {
			out = append(out, &issue{kind: "widen", item: f.name, principal: gc.principal, action: gc.action, ctx: gc.ctx,
				engine: string(b), oracle: string(a), policy: f.after, before: f.before, keyARN: f.keyARN})
		}
	}
	return out
}

// minimal shrinks a request disagreement's policy: statements, condition
// blocks and condition keys are dropped while the disagreement stays.
func minimal(t testing.TB, sim *oracle.Sim, is *issue) string {
	if is.kind == "widen" {
		return "before: " + compact(is.before)
	}
	if is.kind == "judge" && is.recheck == nil {
		return compact(is.policy)
	}
	still := func(doc map[string]any) bool {
		b, _ := json.Marshal(doc)
		pd, err := policy.Parse(b)
		if err != nil {
			return false
		}
		op, err := sim.Load(b)
		if err != nil || len(op.Errors) > 0 {
			return false
		}
		if is.kind == "judge" {
			return is.recheck(t, op, b, is.engine, is.oracle)
		}
		eng := rules.GrantVerdict(pd, is.keyARN, is.principal, is.context.Engine())
		return string(eng) == is.engine && string(decidePair(t, op, is.principal, is.keyARN, is.context)) == is.oracle
	}
	var doc map[string]any
	if json.Unmarshal(is.policy, &doc) != nil {
		return compact(is.policy)
	}
	stmts, ok := doc["Statement"].([]any)
	if !ok {
		return compact(is.policy)
	}
	for i := 0; i < len(stmts); {
		try := append(append([]any{}, stmts[:i]...), stmts[i+1:]...)
		doc["Statement"] = try
		if len(try) > 0 && still(doc) {
			stmts = try
			continue
		}
		doc["Statement"] = stmts
		i++
	}
	for _, s := range stmts {
		sm, ok := s.(map[string]any)
		if !ok {
			continue
		}
		cond, ok := sm["Condition"].(map[string]any)
		if !ok {
			continue
		}
		for op, blk := range cond {
			delete(cond, op)
			if still(doc) {
				continue
			}
			cond[op] = blk
			keys, ok := blk.(map[string]any)
			if !ok {
				continue
			}
			for k, v := range keys {
				delete(keys, k)
				if len(keys) == 0 || !still(doc) {
					keys[k] = v
				}
			}
		}
		if len(cond) == 0 {
			delete(sm, "Condition")
		}
	}
	b, _ := json.Marshal(doc)
	return string(b)
}
