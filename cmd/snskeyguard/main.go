// Command snskeyguard runs the guard from a laptop or a pipeline:
// `snskeyguard scan` judges every SNS topic of an account with the same engine
// and AWS edge as the Lambda functions, and writes fixes only with --apply.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/snskeyguard/snskeyguard/shared/cli"
)

func main() {
	// No X-Ray daemon or trace context on a laptop or in a pipeline: tracing
	// stays off unless asked for.
	if os.Getenv("AWS_XRAY_SDK_DISABLED") == "" {
		_ = os.Setenv("AWS_XRAY_SDK_DISABLED", "true")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.StdIO())
	stop()
	os.Exit(code)
}
