// Package function wires the guard to AWS for one Lambda function: settings
// from the environment, JSON logs, the AWS edge built once at init (no AWS
// call there), and the handler that lambda.Start runs. functions/*/main.go
// only choose which entry point of the guard they serve.
package function

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/snskeyguard/snskeyguard/shared/awsedge"
	"github.com/snskeyguard/snskeyguard/shared/guard"
	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/telemetry"
)

// Entry is one of the guard's entry points.
type Entry func(g *guard.Guard, ctx context.Context, raw []byte) (report.Report, error)

// Entries by function name.
var (
	TopicGuard Entry = (*guard.Guard).HandleTopicEvent
	KeyGuard   Entry = (*guard.Guard).HandleKeyEvent
	ConfigRule Entry = (*guard.Guard).HandleConfigEvent
)

// Main builds everything once and hands the handler to the Lambda runtime.
// A configuration error stops the function at init with a clear message.
func Main(name string, entry Entry) {
	log := telemetry.Setup()
	setMemoryLimit(os.Getenv)
	setGCPercent(os.Getenv)
	h, err := New(context.Background(), name, entry, os.Getenv, log)
	if err != nil {
		log.Error("init failed", "function", name, "error", err)
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// New returns the Lambda handler for entry.
func New(ctx context.Context, name string, entry Entry, getenv func(string) string, log *slog.Logger) (func(context.Context, json.RawMessage) (report.Report, error), error) {
	settings, err := guard.SettingsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	edge, err := awsedge.Load(ctx, awsedge.Options{CrossAccountRoleName: settings.CrossAccountRoleName})
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	g := Guard(settings, edge, log)
	g.Function = name
	if self := getenv("AWS_LAMBDA_FUNCTION_NAME"); self != "" {
		g.Function = self
		g.Continue = func(ctx context.Context, event []byte) error { return edge.InvokeAsync(ctx, self, event) }
	}
	return func(ctx context.Context, raw json.RawMessage) (report.Report, error) {
		before := edge.Calls()
		l := log
		gi := *g
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			l = log.With("requestId", lc.AwsRequestID)
			gi.RequestID = lc.AwsRequestID
		}
		gi.Log = l
		rep, err := entry(&gi, ctx, raw)
		calls := diff(before, edge.Calls())
		if err != nil {
			l.Error("invocation failed", "function", name, "error", err, "awsCalls", total(calls))
			return rep, err
		}
		rep.APICalls = calls
		metrics(name, rep, calls)
		return rep, nil
	}, nil
}

// setMemoryLimit gives the Go runtime a soft limit of 80% of the function's
// memory (unless GOMEMLIMIT is set), so a large sweep collects garbage before
// Lambda kills the process for exceeding its memory.
func setMemoryLimit(getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return -1
	}
	mb, err := strconv.ParseInt(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 10, 64)
	if err != nil || mb <= 0 {
		return -1
	}
	limit := mb << 20 * 8 / 10
	debug.SetMemoryLimit(limit)
	return limit
}

// Guard wires a guard to an AWS edge: the one place the edge's account
// becomes the guard's Account and its errors the guard's classes.
func Guard(settings guard.Settings, edge *awsedge.Edge, log *slog.Logger) *guard.Guard {
	return &guard.Guard{
		Settings: settings,
		Account: func(ctx context.Context, id, region string) (guard.Account, error) {
			a, err := edge.AccountIn(ctx, id, region)
			if errors.Is(err, awsedge.ErrNoCrossAccountRole) {
				// Without CROSS_ACCOUNT_ROLE_NAME the function acts with its own
				// credentials: AWS then answers what this role may see (often
				// access denied, reported as such), and nothing is widened.
				log.Warn("event from another account and no CROSS_ACCOUNT_ROLE_NAME: using the function's own credentials", "account", id)
				a, err = edge.AccountIn(ctx, "", region)
			}
			if err != nil {
				return nil, err
			}
			return account{a}, nil
		},
		Identity: edge.Identity,
		Classify: awsedge.Classify,
		Log:      log,
	}
}

// setGCPercent collects garbage at 50% heap growth instead of Go's 100%
// unless GOGC is set: the functions wait on AWS, not on the CPU, and memory
// is what Lambda bills and caps (a 10,000-topic sweep peaks at 57 MB instead
// of 68 MB; `make bench`).
func setGCPercent(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		return -1
	}
	debug.SetGCPercent(50)
	return 50
}

func diff(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// metrics writes one CloudWatch Embedded Metric Format line: findings by
// code, fixes, alerts and AWS calls.
func metrics(name string, rep report.Report, calls map[string]int) {
	m := map[string]float64{"AWSCalls": float64(total(calls)), "Evaluations": float64(len(rep.Evaluations))}
	for _, e := range rep.Evaluations {
		for _, f := range e.Findings {
			m["Finding_"+string(f.Code)]++
		}
		for _, a := range e.Actions {
			if a.Status == report.StatusApplied {
				m["Applied_"+a.Type]++
			}
		}
	}
	_ = telemetry.WriteMetrics(os.Stdout, "SNSKeyGuard", map[string]string{"Function": name}, m, time.Now())
}

// account adapts the edge's account to the guard's interface: Security Hub
// findings are a type of each package (converted one for one), so neither
// imports the other.
type account struct{ *awsedge.Account }

func (a account) ImportFindings(ctx context.Context, fs []guard.HubFinding) error {
	out := make([]awsedge.Finding, len(fs))
	for i, f := range fs {
		out[i] = awsedge.Finding(f)
	}
	return a.Account.ImportFindings(ctx, out)
}
