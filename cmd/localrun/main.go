// Command localrun is `make run`: the whole product on this machine with no
// AWS account and no Docker. It builds the three functions for this machine,
// starts kumo and the AWS Config and Security Hub fakes on loopback, seeds the
// demo account of events/README.md, runs each function under aws-lambda-rie
// with the settings of events/env.json (endpoints pointed at the emulators,
// MODE from the environment, alert by default), invokes every file of
// events/ with its entry point, and prints what happened: one table row per
// evaluation, then every key-policy change as a unified diff, and at last
// `snskeyguard scan` over the account the events left.
//
// It exits 1 on any function error or emulator failure, and stops every
// process it started and removes their temp dirs on every way out (Ctrl-C
// included; the kernel kills the children if it dies first).
//
// Events run in file order on one demo account: in remediate mode a later
// event sees what an earlier one fixed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
	"github.com/snskeyguard/snskeyguard/shared/scan"
)

// entryPoints maps an events/ file-name prefix to its function and the SAM
// logical id whose settings events/env.json holds.
var entryPoints = []struct{ prefix, function, logicalID string }{
	{"topic-guard-", "topic-guard", "TopicGuardFunction"},
	{"key-guard-", "key-guard", "KeyGuardFunction"},
	{"config-rule-", "config-rule", "ConfigRuleFunction"},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	mode := os.Getenv("MODE")
	if mode == "" {
		mode = "alert"
	}
	if os.Getenv("SERVE") == "1" {
		serve = &emulator.LocalRunPorts
	}
	code := run(ctx, mode, os.Stdout, os.Stderr, buildAll)
	stop()
	os.Exit(code)
}

// serve, when set (make run SERVE=1), keeps the emulators on these fixed ports
// after the run, until Ctrl-C, for `sam local invoke --env-vars events/env.json`.
var serve *emulator.FixedPorts

// run does everything; it returns the exit code after stopping all it started.
// build returns the function binaries by name, given the repository root.
func run(ctx context.Context, mode string, out, errOut io.Writer, build func(root string) (map[string]string, error)) (code int) {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(errOut, "make run: "+format+"\n", a...)
		return 1
	}
	if mode != "alert" && mode != "remediate" {
		return fail("MODE=%q: want alert or remediate", mode)
	}
	root, err := emulator.RepoRoot()
	if err != nil {
		return fail("%v", err)
	}
	events, err := eventFiles(filepath.Join(root, "events"))
	if err != nil {
		return fail("%v", err)
	}
	settings, err := envJSON(filepath.Join(root, "events", "env.json"))
	if err != nil {
		return fail("%v", err)
	}

	start := time.Now()
	bins, err := build(root)
	if err != nil {
		return fail("build functions: %v", err)
	}
	built := time.Since(start)

	stack, demo, err := emulator.StartDemo(ctx, emulator.StackOptions{Fixed: serve})
	if err != nil {
		return fail("start emulators: %v", err)
	}
	defer func() {
		if err := stack.Close(); err != nil {
			code = fail("stop emulators: %v", err)
		}
	}()

	fns := map[string]*emulator.Function{}
	defer func() {
		for _, f := range fns {
			if err := f.Close(); err != nil {
				code = fail("stop function: %v", err)
			}
		}
	}()
	for _, ep := range entryPoints {
		env := emulator.With(settings[ep.logicalID], stack.Env())
		env["MODE"] = mode
		// Each function calls AWS through the IAM proxy, as its role in
		// template.yaml allows it.
		env, err := stack.FunctionEnv(ep.function, env, nil)
		if err != nil {
			return fail("%v", err)
		}
		f, err := emulator.StartFunction(ctx, bins[ep.function], env)
		if err != nil {
			return fail("start %s: %v", ep.function, err)
		}
		fns[ep.function] = f
	}
	fmt.Fprintf(out, "snskeyguard local run: MODE=%s, %d sample events, demo account %s (kumo %s); functions built in %s\n\n",
		mode, len(events), emulator.KumoAccount, stack.Kumo.URL, built.Round(10*time.Millisecond))

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tRESOURCE\tCOMPLIANCE\tCODES\tACTIONS / SKIPPED")
	var changes []policyChange
	failures, alerts := 0, 0
	names := namer{demo}
	for _, file := range events {
		fn := functionOf(file)
		payload, err := os.ReadFile(filepath.Join(root, "events", file))
		if err != nil {
			return fail("%v", err)
		}
		before, err := demo.KeyPolicies(ctx)
		if err != nil {
			return fail("read key policies: %v", err)
		}
		body, err := fns[fn].Invoke(ctx, payload)
		var fe *emulator.FunctionError
		switch {
		case errors.As(err, &fe):
			failures++
			fmt.Fprintf(tw, "%s\t-\tERROR\t-\t%s: %s\n", file, fe.Type, fe.Message)
			fmt.Fprintf(errOut, "function %s failed on %s; its log:\n%s\n", fn, file, tail(fns[fn].Logs(), 30))
			continue
		case err != nil:
			tw.Flush()
			if ctx.Err() != nil {
				return fail("interrupted")
			}
			return fail("invoke %s with %s: %v", fn, file, err)
		}
		var rep report
		if err := json.Unmarshal(body, &rep); err != nil {
			return fail("%s: the report is not JSON: %v\n%s", file, err, body)
		}
		for i, row := range rows(rep, names) {
			if i == 0 {
				fmt.Fprintf(tw, "%s\t%s\n", file, row)
			} else {
				fmt.Fprintf(tw, "\t%s\n", row)
			}
		}
		after, err := demo.KeyPolicies(ctx)
		if err != nil {
			return fail("read key policies: %v", err)
		}
		for _, arn := range slices.Sorted(maps.Keys(after)) {
			if string(after[arn]) != string(before[arn]) {
				changes = append(changes, policyChange{file, names.of(arn), before[arn], after[arn]})
			}
		}
		got, err := demo.Alerts(ctx)
		if err != nil {
			return fail("read alerts: %v", err)
		}
		alerts += len(got)
	}
	tw.Flush()

	topics, err := demo.CurrentTopicKeys(ctx)
	if err != nil {
		return fail("read topics: %v", err)
	}
	fmt.Fprintf(out, "\nAlerts delivered to %s (read from queue %s): %d\n", emulator.DemoAlertTopic, emulator.DemoAlertQueue, alerts)
	calls, evals := 0, 0
	for _, c := range stack.Config.Calls() {
		calls++
		evals += len(c.Evaluations)
	}
	fmt.Fprintf(out, "AWS Config PutEvaluations: %d calls, %d evaluations\n", calls, evals)
	var moved []string
	for _, arn := range slices.Sorted(maps.Keys(topics)) {
		if topics[arn] != demo.TopicKeys[arn] {
			moved = append(moved, fmt.Sprintf("%s: %q -> %q", names.of(arn), demo.TopicKeys[arn], topics[arn]))
		}
	}
	if len(moved) > 0 {
		fmt.Fprintf(out, "Topics re-pointed (KmsMasterKeyId): %s\n", strings.Join(moved, "; "))
	}

	fmt.Fprintln(out)
	if len(changes) == 0 {
		fmt.Fprintf(out, "Key-policy changes: none (MODE=%s", mode)
		if mode == "alert" {
			fmt.Fprint(out, ": fixes are planned and reported, never written; try make run MODE=remediate")
		}
		fmt.Fprintln(out, ")")
	} else {
		fmt.Fprintf(out, "Key-policy changes: %d\n", len(changes))
		for _, c := range changes {
			fmt.Fprintf(out, "\n%s", scan.UnifiedDiff(c.key+" (before "+c.event+")", c.key+" (after)",
				scan.IndentJSON(c.before), scan.IndentJSON(c.after)))
		}
	}
	denials := stack.IAM.Denials()
	fmt.Fprintf(out, "\nIAM (template.yaml's roles, enforced by the proxy in front of the emulators): iam_calls_checked=%d iam_denied=%d\n",
		stack.IAM.Checked(), len(denials))
	for _, d := range denials {
		fmt.Fprintf(out, "  DENIED %s\n", d)
	}
	if err := scanAccount(ctx, out, errOut, stack.Env(), settings["ConfigRuleFunction"]); err != nil {
		return fail("snskeyguard scan: %v", err)
	}
	if failures > 0 {
		return fail("%d function error(s)", failures)
	}
	if len(denials) > 0 {
		return fail("%d call(s) the functions' roles do not allow", len(denials))
	}
	if serve != nil {
		serveUntilDone(ctx, out, *serve)
	}
	return 0
}

// serveUntilDone says how to reach the running emulators from sam local
// invoke, then waits for Ctrl-C. events/env.json already names these ports
// through host.docker.internal (a test holds the two together).
func serveUntilDone(ctx context.Context, out io.Writer, p emulator.FixedPorts) {
	fmt.Fprintf(out, "\nEmulators kept running for sam local invoke (Ctrl-C stops them), listening on %s:\n"+
		"  kumo (SNS, KMS, STS, EventBridge, CloudWatch)  http://host.docker.internal:%d\n"+
		"  AWS Config fake                                http://host.docker.internal:%d\n"+
		"  Security Hub fake                              http://host.docker.internal:%d\n"+
		"In another shell (events/env.json points every function at them):\n"+
		"  sam build\n"+
		"  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN= AWS_PROFILE= AWS_REGION=us-east-1 \\\n"+
		"    sam local invoke TopicGuardFunction -e events/topic-guard-CreateTopic-orders-compliant.json \\\n"+
		"    --add-host host.docker.internal:host-gateway\n",
		p.Listen, p.Kumo, p.Config, p.SecurityHub)
	<-ctx.Done()
}

// scanAccount ends the run with `snskeyguard scan` over the demo account as
// the events left it, with the Config rule's settings as flags and nothing
// but the SDK's own environment pointing it at the emulators. It only reads:
// its exit code 1 (findings) is a result, 2 an error.
func scanAccount(ctx context.Context, out, errOut io.Writer, env, settings map[string]string) error {
	bin, err := emulator.BuildPackage("cmd/snskeyguard")
	if err != nil {
		return err
	}
	args := []string{"scan", "--quiet",
		"--required-principals", settings["REQUIRED_SERVICE_PRINCIPALS"],
		"--discover-sources=" + or(settings["DISCOVER_SOURCES"], "false"),
		"--exempt-tag-key", settings["EXEMPT_TAG_KEY"],
		"--remediation-key-id", settings["REMEDIATION_KEY_ID"]}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "AWS_XRAY_SDK_DISABLED=true"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	fmt.Fprintf(out, "\nThe demo account now, as snskeyguard scan sees it (%s):\n\n", strings.Join(args, " "))
	cmd.Stdout, cmd.Stderr = out, errOut
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return nil
	}
	return err
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

type policyChange struct {
	event, key    string
	before, after []byte
}

// report is the JSON every function returns (docs/DESIGN.md), in the fields shown.
type report struct {
	Skipped     string `json:"skipped"`
	Evaluations []struct {
		ResourceID string `json:"resourceId"`
		Compliance string `json:"compliance"`
		Findings   []struct {
			Code      string `json:"code"`
			Principal string `json:"principal"`
		} `json:"findings"`
		Actions []struct {
			Type     string `json:"type"`
			KeyARN   string `json:"keyArn"`
			TopicARN string `json:"topicArn"`
			Status   string `json:"status"`
			Detail   string `json:"detail"`
		} `json:"actions"`
		Note string `json:"note"`
	} `json:"evaluations"`
}

// rows renders a report as table cells after the event column.
func rows(rep report, names namer) []string {
	if rep.Skipped != "" && len(rep.Evaluations) == 0 {
		return []string{"-\t-\t-\tskipped: " + rep.Skipped}
	}
	var out []string
	for _, e := range rep.Evaluations {
		var codes, acts []string
		for _, f := range e.Findings {
			c := f.Code
			if f.Principal != "" {
				c += "(" + strings.TrimSuffix(f.Principal, ".amazonaws.com") + ")"
			}
			codes = append(codes, c)
		}
		for _, a := range e.Actions {
			s := a.Type + " " + a.Status
			switch a.Type {
			case "PutKeyPolicy":
				s += " " + names.of(a.KeyARN)
			case "SetTopicAttributes":
				s += " -> " + names.of(a.KeyARN)
			}
			if a.Detail != "" {
				s += " (" + a.Detail + ")"
			}
			acts = append(acts, s)
		}
		if len(codes) == 0 {
			codes = []string{"-"}
		}
		if len(acts) == 0 {
			acts = []string{"-"}
			if e.Note != "" {
				acts = []string{e.Note}
			}
		}
		out = append(out, fmt.Sprintf("%s\t%s\t%s\t%s", names.of(e.ResourceID), e.Compliance,
			strings.Join(codes, " "), strings.Join(acts, ", ")))
	}
	if rep.Skipped != "" {
		out = append(out, "-\t-\t-\tskipped: "+rep.Skipped)
	}
	return out
}

// namer shortens the demo's ARNs: a topic to its name, a key to its alias.
type namer struct{ demo *emulator.Demo }

func (n namer) of(arn string) string {
	if a, ok := n.demo.Keys[arn]; ok {
		return a
	}
	if strings.HasPrefix(arn, "arn:aws:sns:") {
		return arn[strings.LastIndex(arn, ":")+1:]
	}
	return arn
}

func functionOf(file string) string {
	for _, ep := range entryPoints {
		if strings.HasPrefix(file, ep.prefix) {
			return ep.function
		}
	}
	return ""
}

// eventFiles lists the sample events, sorted; each must name its entry point.
func eventFiles(dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var files []string
	for _, p := range paths {
		f := filepath.Base(p)
		if f == "env.json" {
			continue
		}
		if functionOf(f) == "" {
			return nil, fmt.Errorf("events/%s: the name starts with no entry point (topic-guard-, key-guard-, config-rule-)", f)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no sample events in %s", dir)
	}
	return files, nil
}

// envJSON reads events/env.json: settings by SAM logical id.
func envJSON(path string) (map[string]map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var all map[string]map[string]string
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, ep := range entryPoints {
		if _, ok := all[ep.logicalID]; !ok {
			return nil, fmt.Errorf("%s has no settings for %s", path, ep.logicalID)
		}
	}
	return all, nil
}

// buildAll builds the three functions side by side for this machine, the
// way emulator.BuildFunction does (CGO_ENABLED=0, -tags lambda.norpc) and
// into the same place, but straight to the target: go build then sees the
// binary is up to date and skips the link, which is most of the time of an
// unchanged rebuild (measured here: 7 s cold, 1.2 s up to date, per function).
func buildAll(root string) (map[string]string, error) {
	return buildEach(func(function string) (string, error) {
		bin := filepath.Join(root, ".cache", "functions", runtime.GOOS+"_"+runtime.GOARCH, "functions", function, "bootstrap")
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "./functions/"+function)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
		if out, err := cmd.CombinedOutput(); err != nil {
			return bin, fmt.Errorf("go build ./functions/%s: %w\n%s", function, err, out)
		}
		return bin, nil
	})
}

// buildEach runs build for every function at once and gathers the binaries
// by function name with every error.
func buildEach(build func(function string) (string, error)) (map[string]string, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	bins := map[string]string{}
	var errs []error
	for _, ep := range entryPoints {
		wg.Go(func() {
			bin, err := build(ep.function)
			mu.Lock()
			defer mu.Unlock()
			bins[ep.function], errs = bin, append(errs, err)
		})
	}
	wg.Wait()
	return bins, errors.Join(errs...)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
