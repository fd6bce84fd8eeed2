package tracing

import (
	"testing"

	"github.com/aws/smithy-go/middleware"
)

func TestInstrumentAWS(t *testing.T) {
	var on []func(*middleware.Stack) error
	t.Setenv("AWS_XRAY_SDK_DISABLED", "")
	InstrumentAWS(&on)
	if len(on) == 0 {
		t.Fatal("tracing enabled: no middleware was added to the AWS client options")
	}

	var off []func(*middleware.Stack) error
	t.Setenv("AWS_XRAY_SDK_DISABLED", "TRUE")
	if Enabled() {
		t.Fatal("AWS_XRAY_SDK_DISABLED=TRUE: Enabled() = true")
	}
	InstrumentAWS(&off)
	if len(off) != 0 {
		t.Fatalf("tracing disabled: %d middleware added", len(off))
	}
}
