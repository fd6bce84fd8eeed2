package awsedge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func generic(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }

// withStatus wraps err the way the SDK does, with an HTTP status.
func withStatus(err error, status int) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, Other},
		{"ThrottlingException", generic("ThrottlingException"), Retryable},
		{"SNS Throttled", &snstypes.ThrottledException{}, Retryable},
		{"SNS KMSThrottling typed", &snstypes.KMSThrottlingException{}, Retryable},
		{"KMSThrottlingException", generic("KMSThrottlingException"), Retryable},
		{"RequestLimitExceeded", generic("RequestLimitExceeded"), Retryable},
		{"Throttling (STS)", generic("Throttling"), Retryable},
		{"KMS internal typed", &kmstypes.KMSInternalException{}, Retryable},
		{"KMS dependency timeout", &kmstypes.DependencyTimeoutException{}, Retryable},
		{"SNS InternalError typed", &snstypes.InternalErrorException{}, Retryable},
		{"unknown code with 503", withStatus(generic("UnknownError"), 503), Retryable},
		{"unknown code with 500", withStatus(generic("Weird"), 500), Retryable},
		{"no code, 502", withStatus(errors.New("bad gateway"), 502), Retryable},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, Retryable},
		{"connection refused", fmt.Errorf("send: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), Retryable},
		{"timeout", &net.DNSError{IsTimeout: true}, Retryable},
		{"deadline", fmt.Errorf("op: %w", context.DeadlineExceeded), Retryable},
		{"retry quota", fmt.Errorf("get token: %w", ratelimit.QuotaExceededError{Available: 1, Requested: 5}), Retryable},
		{"max attempts wraps throttle", &retry.MaxAttemptsError{Attempt: 5, Err: generic("ThrottlingException")}, Retryable},

		{"KMS NotFoundException typed", &kmstypes.NotFoundException{}, NotFound},
		{"SNS NotFound typed", &snstypes.NotFoundException{}, NotFound},
		{"SNS KMSNotFound typed", &snstypes.KMSNotFoundException{}, NotFound},
		{"ResourceNotFoundException", generic("ResourceNotFoundException"), NotFound},
		{"NotFound beats emulator 500", withStatus(generic("NotFoundException"), 500), NotFound},
		{"wrapped NotFound", fmt.Errorf("describe key (k): %w", generic("NotFoundException")), NotFound},

		{"AccessDeniedException", generic("AccessDeniedException"), AccessDenied},
		{"SNS AuthorizationError typed", &snstypes.AuthorizationErrorException{}, AccessDenied},
		{"SNS KMSAccessDenied typed", &snstypes.KMSAccessDeniedException{}, AccessDenied},
		{"KMSAccessDeniedException", generic("KMSAccessDeniedException"), AccessDenied},
		{"AccessDenied beats 500", withStatus(generic("AccessDeniedException"), 500), AccessDenied},

		{"KMS DisabledException typed", &kmstypes.DisabledException{}, Disabled},
		{"SNS KMSDisabled typed", &snstypes.KMSDisabledException{}, Disabled},
		{"KMSDisabledException", generic("KMSDisabledException"), Disabled},

		{"KMS KMSInvalidStateException typed", &kmstypes.KMSInvalidStateException{}, InvalidState},
		{"SNS KMSInvalidState typed", &snstypes.KMSInvalidStateException{}, InvalidState},

		{"SNS KMSOptInRequired typed", &snstypes.KMSOptInRequired{}, OptIn},
		{"KMSOptInRequired", generic("KMSOptInRequired"), OptIn},

		{"ValidationException", generic("ValidationException"), Invalid},
		{"MalformedPolicyDocument typed", &kmstypes.MalformedPolicyDocumentException{}, Invalid},
		{"SNS InvalidParameter typed", &snstypes.InvalidParameterException{}, Invalid},
		{"InvalidArn typed", &kmstypes.InvalidArnException{}, Invalid},

		{"unknown code, 400", withStatus(generic("UnknownOperationException"), 400), Other},
		{"plain error", errors.New("boom"), Other},
		{"canceled", context.Canceled, Other},
		{"KMS LimitExceeded (a quota, not a rate)", &kmstypes.LimitExceededException{}, Other},
	}
	for _, c := range cases {
		if got := Classify(c.err); got != c.want {
			t.Errorf("%s: Classify(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

func TestClassNamesAndErrorCode(t *testing.T) {
	want := []string{"Other", "Retryable", "NotFound", "AccessDenied", "Disabled", "InvalidState", "OptIn", "Invalid"}
	for i, w := range want {
		if Class(i).String() != w {
			t.Errorf("Class(%d) = %s, want %s", i, Class(i), w)
		}
	}
	if Class(99).String() != "Other" {
		t.Error("out-of-range class")
	}
	if ErrorCode(fmt.Errorf("x: %w", &snstypes.KMSThrottlingException{})) != "KMSThrottling" || ErrorCode(errors.New("x")) != "" {
		t.Error("ErrorCode")
	}
}
