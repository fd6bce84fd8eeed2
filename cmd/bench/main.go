// Command bench is `make bench`: it prints, one per line on stdout, the
// speed and cost figures (each token is name=number) and
// writes how they were obtained to stderr.
//
//	sweep_seconds_<N>=<emulated s>  (N = 10000, 100000)
//	sweep_api_calls_<N>=<n>
//	sweep_api_calls_min_<N>=<m>
//	sweep_peak_rss_mb_<N>=<m>
//	binary_bytes=<size of the topic-guard bootstrap, stripped>
//	coldstart_init_ms=<median INIT REPORT of topic-guard>  coldstart_init_ms_baseline=<the same, SDK baseline>
//	coldstart_ratio=<r>
//	coldstart_ratio_minimal=<r>
//	coldstart_ratio_noxray=<r>
//	evaluate_ns_per_topic=<ns>  (judge + plan one topic, key policy parsed once per key, as the guard does)
//	evaluate_ns_per_topic_parsing_twice=<ns>
//
// Everything runs on loopback: kumo seeded through its data directory, the
// Config fake for PutEvaluations, each function binary (built like the Lambda
// bundle, for this machine) under aws-lambda-rie.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/snskeyguard/snskeyguard/internal/bench"
	"github.com/snskeyguard/snskeyguard/internal/emulator"
	"github.com/snskeyguard/snskeyguard/internal/iamproxy"
)

func main() {
	topics := flag.Int("topics", 0, "topics in the sweep (0: 10,000 then 100,000)")
	keys := flag.Int("keys", 50, "keys the topics are spread over")
	rounds := flag.Int("rounds", 21, "fresh starts of each cold-start variant (median)")
	only := flag.String("only", "", "run only: sweep, coldstart or evaluate")
	flag.Func("sweep-env", "extra K=V for the sweep's function, for diagnosis (GODEBUG=gctrace=1, GOGC=50); repeatable", func(kv string) error {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return errors.New("want K=V")
		}
		sweepEnv[k] = v
		return nil
	})
	flag.Func("quota", "OP=RATE: run the sweep with another request rate (per second) for a metered operation, e.g. config:SelectResourceConfig=5 (internal/iamproxy/quota.go); repeatable", func(kv string) error {
		op, v, ok := strings.Cut(kv, "=")
		if !ok {
			return errors.New("want OP=RATE")
		}
		rate, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("rate of %s: %w", op, err)
		}
		quotaOverrides[op] = rate
		return nil
	})
	flag.BoolVar(&policyFromSNS, "policy-from-sns", false, "sweep as if AWS Config's topic items carried no access policy: each topic's policy is read with GetTopicAttributes (lines end in _policy_from_sns)")
	flag.Parse()
	if _, err := iamproxy.QuotaTable(quotaOverrides); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *topics, *keys, *rounds, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// sweepEnv is layered over the sweep function's environment.
var sweepEnv = map[string]string{}

// policyFromSNS is the -policy-from-sns flag.
var policyFromSNS bool

// quotaOverrides are the -quota flags: rates the IAM proxy uses instead of
// its table's for the sweep.
var quotaOverrides = map[string]float64{}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "# "+format+"\n", args...) }

func run(ctx context.Context, topics, keys, rounds int, only string) error {
	if rounds < 1 {
		return errors.New("rounds must be at least 1")
	}
	root, err := emulator.RepoRoot()
	if err != nil {
		return err
	}
	var lines []string
	if only == "" || only == "sweep" {
		l, err := sweep(ctx, root, topics, keys)
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		lines = append(lines, l...)
	}
	if only == "" || only == "coldstart" {
		l, err := coldStarts(ctx, root, rounds)
		if err != nil {
			return fmt.Errorf("cold start: %w", err)
		}
		lines = append(lines, l...)
	}
	if only == "" || only == "evaluate" {
		l, err := evaluate(ctx, root)
		if err != nil {
			return fmt.Errorf("evaluate: %w", err)
		}
		lines = append(lines, l...)
	}
	for _, l := range lines {
		fmt.Println(l)
	}
	return nil
}

// buildLambda builds a main package the way the Makefile builds the Lambda
// bundle (CGO off, lambda.norpc, trimmed and stripped), for this machine, to
// .cache/bench/<name>/bootstrap; the folder name becomes the function name.
func buildLambda(ctx context.Context, root, name, pkg string) (string, error) {
	out := filepath.Join(root, ".cache", "bench", name, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// sweepReport is the part of the function's report the bench reads.
type sweepReport struct {
	Skipped     string            `json:"skipped"`
	Evaluations []json.RawMessage `json:"evaluations"`
	APICalls    map[string]int    `json:"apiCalls"`
	Summary     struct {
		Topics int `json:"topics"`
	} `json:"summary"`
	Continued json.RawMessage `json:"continued"`
}

func sweep(ctx context.Context, root string, topics, keys int) ([]string, error) {
	bin, err := buildLambda(ctx, root, "config-rule", "./functions/config-rule")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range sweepSizes(topics) {
		l, err := sweepOnce(ctx, bin, n, keys)
		if err != nil {
			return nil, fmt.Errorf("%d topics: %w", n, err)
		}
		out = append(out, l...)
	}
	return out, nil
}

// sweepSizes is the sizes measured: 10,000 and 100,000 topics by default,
// else the one size -topics asks for.
func sweepSizes(topics int) []int {
	if topics <= 0 {
		return []int{10000, 100000}
	}
	return []int{topics}
}

// sweepOnce measures config-rule's Config-first sweep of topics on keys
// under the request-rate quotas: every call goes through the IAM proxy,
// whose virtual clock charges each quota wait to emulated time instead of
// sleeping. sweep_seconds is the emulated time of the invocation (its real
// time plus the quota waits), so a loaded machine only makes it larger.
func sweepOnce(ctx context.Context, bin string, topics, keys int) ([]string, error) {
	t0 := time.Now()
	seed, recorded := bench.RecordedSweepSeed(topics, keys, policyFromSNS)
	stack, err := emulator.StartStack(ctx, emulator.StackOptions{Kumo: emulator.KumoOptions{Seed: seed}, VirtualQuotas: true, QuotaOverrides: quotaOverrides})
	if err != nil {
		return nil, err
	}
	defer stack.Close()
	stack.Config.SetTopics(recorded...)
	logf("sweep %d: kumo seeded with %d keys, AWS Config records %d topics, in %.2fs", topics, keys, topics, time.Since(t0).Seconds())
	// MODE=alert writes nothing (remediate adds one read, write and read-back
	// per fixed key); no ALERT_TOPIC_ARN (alerts are one Publish per
	// non-compliant topic, not part of the minimum); no discovery, no
	// exemption tag, no Security Hub.
	env := emulator.With(stack.Env(), map[string]string{
		"MODE": "alert", "DISCOVER_SOURCES": "false", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "900",
	})
	env = emulator.With(env, sweepEnv)
	if env, err = stack.FunctionEnv("config-rule", env, nil); err != nil {
		return nil, err
	}
	fn, err := emulator.StartFunction(ctx, bin, env)
	if err != nil {
		return nil, err
	}
	defer fn.Close()
	ictx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	e0, w0 := stack.IAM.EmulatedTime(), stack.IAM.QuotaWaits()
	t1 := time.Now()
	out, err := fn.Invoke(ictx, bench.SweepEvent())
	elapsed := time.Since(t1)
	emulated, waits := stack.IAM.EmulatedTime()-e0, stack.IAM.QuotaWaits()-w0
	if err != nil {
		return nil, fmt.Errorf("invoke: %w (%d bytes); log tail:\n%s", err, len(out), tail(fn.Logs(), 3000))
	}
	var rep sweepReport
	if err := json.Unmarshal(out, &rep); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	// A sweep's report lists at most report.MaxEvaluations topics; its summary counts them all.
	if rep.Skipped != "" || rep.Summary.Topics != topics || rep.Continued != nil {
		return nil, fmt.Errorf("report covers %d topics (skipped %q, continued %s), want %d in one invocation",
			rep.Summary.Topics, rep.Skipped, rep.Continued, topics)
	}
	if n := len(stack.Config.Evaluations()); n != topics {
		return nil, fmt.Errorf("the Config fake stored %d evaluations, want %d", n, topics)
	}
	if d := stack.IAM.Denials(); len(d) > 0 {
		return nil, fmt.Errorf("the IAM proxy denied %d calls, first: %s", len(d), d[0])
	}
	kids, err := emulator.Children(fn.Pid())
	if err != nil || len(kids) != 1 {
		return nil, fmt.Errorf("function process under aws-lambda-rie (pid %d): %v %v", fn.Pid(), kids, err)
	}
	rss, err := bench.PeakRSS(kids[0])
	if err != nil {
		return nil, err
	}
	calls := bench.Total(rep.APICalls)
	minimum := bench.MinimumRecorded(topics, keys, policyFromSNS)
	logf("sweep %d: emulated %.2fs = real %.2fs + quota waits %.2fs; response %d bytes; AWS calls %d (minimum %d): %v",
		topics, emulated.Seconds(), elapsed.Seconds(), waits.Seconds(), len(out), calls, minimum, rep.APICalls)
	logf("sweep %d: function pid %d VmHWM %.1f MiB; throttled by the proxy: %v", topics, kids[0], float64(rss)/(1<<20), stack.IAM.Throttled())
	if strings.Contains(sweepEnv["GODEBUG"], "gctrace") {
		for line := range strings.SplitSeq(fn.Logs(), "\n") {
			if strings.HasPrefix(line, "gc ") {
				logf("%s", line)
			}
		}
	}
	// Raw counts: a ratio printed with two decimals would hide extra calls.
	suffix := ""
	if policyFromSNS {
		suffix = "_policy_from_sns"
	}
	return []string{
		fmt.Sprintf("sweep_seconds_%d%s=%.2f", topics, suffix, emulated.Seconds()),
		fmt.Sprintf("sweep_api_calls_%d%s=%d", topics, suffix, calls),
		fmt.Sprintf("sweep_api_calls_min_%d%s=%d", topics, suffix, minimum),
		fmt.Sprintf("sweep_peak_rss_mb_%d%s=%.1f", topics, suffix, float64(rss)/(1<<20)),
	}, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// variant is one function measured for cold start.
type variant struct {
	name string
	bin  string
	env  map[string]string
}

func coldStarts(ctx context.Context, root string, rounds int) ([]string, error) {
	event, err := os.ReadFile(filepath.Join(root, "events", "topic-guard-CreateTopic-failed.json"))
	if err != nil {
		return nil, err
	}
	var vs []variant
	for _, b := range []struct{ name, pkg string }{
		{"topic-guard", "./functions/topic-guard"},
		{"baseline", "./internal/bench/baseline"},
		{"minimal", "./internal/bench/minimal"},
	} {
		bin, err := buildLambda(ctx, root, b.name, b.pkg)
		if err != nil {
			return nil, err
		}
		vs = append(vs, variant{name: b.name, bin: bin})
	}
	// No X-Ray: the same binary with the SDK switched off at run time (the
	// X-Ray packages' own init still runs; see README-bench.md).
	vs = append(vs, variant{name: "topic-guard-noxray", bin: vs[0].bin, env: map[string]string{"AWS_XRAY_SDK_DISABLED": "true"}})

	// Every AWS endpoint points here: a request during init or during the
	// skipped invocation is a bug the bench reports.
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no AWS call expected", http.StatusTeapot)
	}))
	defer srv.Close()

	totals, inits := map[string][]float64{}, map[string][]float64{}
	for r := range rounds {
		// Rotate the order so no variant always runs first (warmer caches).
		for i := range vs {
			v := vs[(i+r)%len(vs)]
			// A loaded machine occasionally drops an emulator connection
			// (reset by peer); a fresh start is a fresh sample, so retry.
			var c bench.ColdStart
			var err error
			for attempt := 1; attempt <= 3; attempt++ {
				if c, err = coldStart(ctx, v, event, srv.URL); err == nil || ctx.Err() != nil {
					break
				}
				logf("%s round %d attempt %d: %v", v.name, r+1, attempt, err)
			}
			if err != nil {
				return nil, fmt.Errorf("%s round %d: %w", v.name, r+1, err)
			}
			totals[v.name] = append(totals[v.name], float64(c.Total())/float64(time.Millisecond))
			inits[v.name] = append(inits[v.name], float64(c.Init)/float64(time.Millisecond))
		}
	}
	if n := requests.Load(); n != 0 {
		return nil, fmt.Errorf("%d AWS requests during init and skipped invocations, want 0", n)
	}
	med := map[string]float64{}
	for _, v := range vs {
		med[v.name] = bench.Median(totals[v.name])
		logf("cold start %-19s median %.1f ms over %d starts (init + first invoke): %s", v.name, med[v.name], rounds, fmtMs(totals[v.name]))
	}
	size, err := os.Stat(vs[0].bin)
	if err != nil {
		return nil, err
	}
	return []string{
		fmt.Sprintf("binary_bytes=%d", size.Size()),
		fmt.Sprintf("coldstart_init_ms=%.1f", bench.Median(inits["topic-guard"])),
		fmt.Sprintf("coldstart_init_ms_baseline=%.1f", bench.Median(inits["baseline"])),
		fmt.Sprintf("coldstart_ratio=%.2f", med["topic-guard"]/med["baseline"]),
		fmt.Sprintf("coldstart_ratio_minimal=%.2f", med["topic-guard"]/med["minimal"]),
		fmt.Sprintf("coldstart_ratio_noxray=%.2f", med["topic-guard-noxray"]/med["baseline"]),
	}, nil
}

func fmtMs(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(parts, " ")
}

// coldStart starts a fresh emulator and function, invokes once, and reads the
// emulator's INIT REPORT and first INVOKE RTDONE lines.
func coldStart(ctx context.Context, v variant, event []byte, endpoint string) (bench.ColdStart, error) {
	env := map[string]string{"AWS_ENDPOINT_URL": endpoint}
	for k, val := range v.env {
		env[k] = val
	}
	fn, err := emulator.StartFunction(ctx, v.bin, env)
	if err != nil {
		return bench.ColdStart{}, err
	}
	defer fn.Close()
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := fn.Invoke(ictx, event)
	if err != nil {
		return bench.ColdStart{}, fmt.Errorf("invoke: %w: %s", err, out)
	}
	// The REPORT line may be written just after the response.
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := bench.ParseColdStart(fn.Logs())
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return bench.ColdStart{}, fmt.Errorf("%w; log:\n%s", err, tail(fn.Logs(), 2000))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// evaluate runs the engine benchmark of shared/rules: one op judges one topic
// (30 KB key policy, three required principals) and plans its fix.
func evaluate(ctx context.Context, root string) ([]string, error) {
	// The guard parses a key policy once per key and shares it across the
	// key's topics (rules.Key.Parsed, plan.FixDoc): per topic it judges and
	// plans on the parsed document. The figure with the parse (twice: judge
	// and planner each parse) is printed beside it, the worst case of a key
	// that serves one topic being lower than that.
	var lines []string
	for _, b := range []struct{ name, figure string }{
		{"BenchmarkEvaluatePlanParsed", "evaluate_ns_per_topic"},
		{"BenchmarkEvaluatePlan", "evaluate_ns_per_topic_parsing_twice"},
	} {
		cmd := exec.CommandContext(ctx, "go", "test", "./shared/rules", "-run", "^$", "-bench", "^"+b.name+"$", "-benchtime", "2s", "-count", "1")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("go test -bench: %w\n%s", err, out)
		}
		ns, err := bench.ParseNsPerOp(string(out))
		if err != nil {
			return nil, fmt.Errorf("%w:\n%s", err, out)
		}
		logf("%s: %.0f ns/op", b.name, ns)
		lines = append(lines, fmt.Sprintf("%s=%.0f", b.figure, ns))
	}
	return lines, nil
}
