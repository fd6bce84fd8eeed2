// Package cli is the command `snskeyguard`: it wires the guard (shared/guard,
// through shared/function's wiring, as the Lambda functions do) to the AWS
// edge built from the SDK's default credential chain, runs the guard's sweep
// over one account and one or more regions, and renders the result with
// shared/scan. Without --apply the guard runs in alert mode and every write
// is refused below it as well; with --apply it runs again in remediate mode
// and may write only the fixes the user was shown and confirmed.
package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/snskeyguard/snskeyguard/shared/awsedge"
	"github.com/snskeyguard/snskeyguard/shared/function"
	"github.com/snskeyguard/snskeyguard/shared/guard"
	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/scan"
)

// IO is the command's terminal: stdin for the confirmation, stdout for the
// result, stderr for progress, questions and errors.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// StdinTerminal and StderrTerminal say whether they are terminals.
	StdinTerminal, StderrTerminal bool
}

// StdIO is the process's own terminal.
func StdIO() IO {
	return IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		StdinTerminal: isTerminal(os.Stdin), StderrTerminal: isTerminal(os.Stderr)}
}

// Main runs the command with args (without the program name) and returns
// its exit code.
func Main(ctx context.Context, args []string, tio IO) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(tio.Stderr, "Usage: snskeyguard scan [flags]   (snskeyguard scan -h lists the flags)")
		if len(args) == 0 {
			return scan.ExitError
		}
		return 0
	}
	switch args[0] {
	case "version", "--version":
		fmt.Fprintln(tio.Stdout, "snskeyguard", Version())
		return 0
	case "scan":
	default:
		fmt.Fprintf(tio.Stderr, "snskeyguard: unknown command %q (want scan)\n", args[0])
		return scan.ExitError
	}
	o, err := parse(args[1:], tio.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(tio.Stderr, "snskeyguard scan: %v\n", err)
		return scan.ExitError
	}
	code, err := run(ctx, o, tio)
	if err != nil {
		fmt.Fprintf(tio.Stderr, "snskeyguard scan: %v\n", err)
		return scan.ExitError
	}
	return code
}

// Version is the module version the binary was built from ("devel" from a checkout).
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return strings.TrimPrefix(bi.Main.Version, "v")
	}
	return "devel"
}

// ErrNoConfirmation is the refusal of --apply without a terminal to ask on
// and without --yes.
var ErrNoConfirmation = errors.New("--apply writes key policies and topic keys: without a terminal to confirm on, pass --yes")

func run(ctx context.Context, o options, tio IO) (int, error) {
	if o.Apply && !o.Yes && !tio.StdinTerminal {
		return 0, ErrNoConfirmation
	}
	level := slog.LevelWarn
	if o.Debug {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(tio.Stderr, &slog.HandlerOptions{Level: level}))
	first := ""
	if len(o.Regions) > 0 {
		first = o.Regions[0]
	}
	edge, err := awsedge.Load(ctx, awsedge.Options{Region: first, Profile: o.Profile, EndpointURL: o.EndpointURL})
	if err != nil {
		return 0, err
	}
	regions := o.Regions
	if len(regions) == 0 {
		if edge.Region() == "" {
			return 0, errors.New("no region: pass --region, or set one in the profile or AWS_REGION")
		}
		regions = []string{edge.Region()}
	}
	account, _, err := edge.Identity(ctx)
	if err != nil {
		return 0, fmt.Errorf("credentials: %w", err)
	}
	prog := newProgress(tio.Stderr, tio.StderrTerminal, o.Quiet)

	plan, err := sweep(ctx, edge, o.Settings, log, account, regions, prog, nil)
	if err != nil {
		return 0, err
	}
	if !o.Apply {
		return scan.ExitCode(plan.Report), render(tio.Stdout, o.Output, plan, edge)
	}

	// --apply: show the plan (on stdout as the table, else on stderr so
	// stdout stays machine-readable), confirm, then run the guard again in
	// remediate mode, allowed to write only what was shown.
	shown := tio.Stdout
	if o.Output != OutputTable {
		shown = tio.Stderr
	}
	if err := scan.Table(shown, plan); err != nil {
		return 0, err
	}
	fixes := scan.Planned(plan.Report)
	if len(fixes) == 0 {
		fmt.Fprintln(tio.Stderr, "\nNothing to apply: no fix is planned.")
		return scan.ExitCode(plan.Report), renderMachine(tio.Stdout, o.Output, plan, edge)
	}
	if !o.Yes {
		ok, err := confirm(tio, len(fixes), account)
		if err != nil {
			return 0, err
		}
		if !ok {
			fmt.Fprintln(tio.Stderr, "Nothing written.")
			return scan.ExitCode(plan.Report), renderMachine(tio.Stdout, o.Output, plan, edge)
		}
	}
	s := o.Settings
	s.Mode = guard.ModeRemediate
	done, err := sweep(ctx, edge, s, log, account, regions, prog, newConfirmed(fixes))
	if err != nil {
		return 0, err
	}
	if o.Output == OutputTable {
		fmt.Fprintln(tio.Stdout, "\nAfter --apply:")
	}
	return scan.ExitCode(done.Report), render(tio.Stdout, o.Output, done, edge)
}

// confirm asks on stderr and reads the answer from stdin: only "yes" (or "y") writes.
func confirm(tio IO, n int, account string) (bool, error) {
	fmt.Fprintf(tio.Stderr, "\nWrite these %d fix(es) to account %s? Only 'yes' writes: ", n, account)
	line, err := bufio.NewReader(tio.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read confirmation: %w", err)
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "yes" || a == "y", nil
}

// sweep runs the guard over every region and merges the reports. confirmed
// is nil in alert mode (every write refused) and, in remediate mode, the
// fixes the user confirmed (any other write refused).
func sweep(ctx context.Context, edge *awsedge.Edge, s guard.Settings, log *slog.Logger, accountID string, regions []string, prog *progress, confirmed *confirmed) (scan.Result, error) {
	g := function.Guard(s, edge, log)
	rec := newRecorder()
	inner := g.Account
	var cur *regionProgress
	g.Account = func(ctx context.Context, id, region string) (guard.Account, error) {
		a, err := inner(ctx, id, region)
		if err != nil {
			return nil, err
		}
		return &account{Account: a, progress: cur, rec: rec, confirmed: confirmed}, nil
	}
	before := edge.Calls()
	var reps []report.Report
	for _, region := range regions {
		cur = prog.start(region)
		rep, err := g.Sweep(ctx, region)
		cur.stop()
		if err != nil {
			return scan.Result{}, fmt.Errorf("region %s: %w", region, err)
		}
		reps = append(reps, rep)
	}
	merged := scan.Merge(s.Mode, reps)
	merged.APICalls = callsSince(before, edge.Calls())
	return scan.Result{Account: accountID, Regions: regions, Report: merged, TopicKeys: rec.topicKeys()}, nil
}

func callsSince(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// render writes the result in the chosen format.
func render(w io.Writer, output string, r scan.Result, edge *awsedge.Edge) error {
	if output == OutputTable {
		return scan.Table(w, r)
	}
	return renderMachine(w, output, r, edge)
}

// renderMachine writes the machine formats; the table was shown already.
func renderMachine(w io.Writer, output string, r scan.Result, _ *awsedge.Edge) error {
	switch output {
	case OutputJSON:
		b, err := json.MarshalIndent(r.Report, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case OutputSARIF:
		return scan.SARIF(w, r, Version())
	case OutputASFF:
		var fs []awsedge.Finding
		for _, e := range r.Report.Evaluations {
			for _, f := range guard.HubFindings(e) {
				fs = append(fs, awsedge.Finding(f))
			}
		}
		b, err := awsedge.ASFFJSON(fs, "", r.Account, time.Now())
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	return nil
}
