// Package tracing is the one place that knows which tracer the functions use.
// Today it is AWS X-Ray through aws-xray-sdk-go/v2 (the major version without
// the v1 AWS SDK, whose package init alone cost 17-23 ms of every cold start).
// The X-Ray SDKs reach end of support on 2027-02-25
// (https://docs.aws.amazon.com/xray/latest/devguide/xray-sdk-migration.html);
// replacing this package's body with OpenTelemetry changes nothing above it.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/aws/aws-xray-sdk-go/v2/instrumentation/awsv2"
	"github.com/aws/aws-xray-sdk-go/v2/strategy/ctxmissing"
	"github.com/aws/aws-xray-sdk-go/v2/xray"
	"github.com/aws/aws-xray-sdk-go/v2/xraylog"
	"github.com/aws/smithy-go/middleware"
)

var once sync.Once

// configure makes tracing quiet where there is no segment (a local run
// without a daemon or trace header): the SDK's default would log an error
// for every AWS call. A user's AWS_XRAY_CONTEXT_MISSING still wins.
func configure() {
	once.Do(func() {
		xray.SetLogger(logger{})
		if os.Getenv("AWS_XRAY_CONTEXT_MISSING") == "" {
			_ = xray.Configure(xray.Config{ContextMissingStrategy: ctxmissing.NewDefaultIgnoreErrorStrategy()})
		}
	})
}

// Enabled reports whether AWS calls are traced (AWS_XRAY_SDK_DISABLED=true
// turns tracing off).
func Enabled() bool {
	configure()
	return !xray.SdkDisabled()
}

// InstrumentAWS adds a subsegment per AWS SDK call to the client options,
// unless tracing is disabled.
func InstrumentAWS(apiOptions *[]func(*middleware.Stack) error) {
	if Enabled() {
		awsv2.AWSV2Instrumentor(apiOptions)
	}
}

// logger sends the tracer's own messages to slog. Its errors are logged as
// warnings: a tracing failure never fails the guard's work, and the error
// level stays meaningful for alarms on the guard's own failures.
type logger struct{}

func (logger) Log(level xraylog.LogLevel, msg fmt.Stringer) {
	l := slog.LevelDebug
	if level >= xraylog.LogLevelWarn {
		l = slog.LevelWarn
	}
	slog.Default().Log(context.Background(), l, msg.String(), "component", "xray")
}
