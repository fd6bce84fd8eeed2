package awsedge

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/smithy-go"

	"github.com/snskeyguard/snskeyguard/shared/fault"
)

// Class is what the guard can do about a failed AWS call: the one enum of
// shared/fault, which the guard branches on by the same names.
type Class = fault.Class

// The classes, under the names the edge's code and tests use.
const (
	Other        = fault.Other
	Retryable    = fault.Retryable
	NotFound     = fault.NotFound
	AccessDenied = fault.AccessDenied
	Disabled     = fault.Disabled
	InvalidState = fault.InvalidState
	OptIn        = fault.OptIn
	Invalid      = fault.Invalid
)

// errorCodes maps the error codes of the services we call to a class. Both
// spellings appear because the query-protocol services (SNS, STS, CloudWatch)
// drop the "Exception" suffix that the JSON services (KMS, EventBridge,
// Config, Security Hub) keep; SNS's KMS* codes are KMS failures seen
// through SNS (Publish, SetTopicAttributes).
var errorCodes = map[string]Class{
	// Throttling and server-side faults.
	"Throttling": Retryable, "ThrottlingException": Retryable, "Throttled": Retryable,
	"ThrottledException": Retryable, "KMSThrottlingException": Retryable, "KMSThrottling": Retryable,
	"RequestLimitExceeded": Retryable, "TooManyRequestsException": Retryable,
	"RequestThrottled": Retryable, "RequestThrottledException": Retryable, "SlowDown": Retryable,
	"PriorRequestNotComplete": Retryable, "RequestTimeout": Retryable, "RequestTimeoutException": Retryable,
	"InternalError": Retryable, "InternalErrorException": Retryable, "InternalFailure": Retryable,
	"InternalServerError": Retryable, "InternalException": Retryable, "InternalServiceError": Retryable,
	"KMSInternalException": Retryable, "KMSInternal": Retryable, "DependencyTimeoutException": Retryable,
	"ServiceUnavailable": Retryable, "ServiceUnavailableException": Retryable,
	"ConcurrentModificationException": Retryable, "ConcurrentAccess": Retryable,

	"NotFoundException": NotFound, "NotFound": NotFound, "KMSNotFoundException": NotFound,
	"KMSNotFound": NotFound, "ResourceNotFoundException": NotFound, "ResourceNotFound": NotFound,
	"NoSuchEntity": NotFound,

	"AccessDeniedException": AccessDenied, "AccessDenied": AccessDenied, "AuthorizationError": AccessDenied,
	"KMSAccessDeniedException": AccessDenied, "KMSAccessDenied": AccessDenied,
	"UnauthorizedOperation": AccessDenied, "UnrecognizedClientException": AccessDenied,
	"InvalidClientTokenId": AccessDenied, "ExpiredToken": AccessDenied, "ExpiredTokenException": AccessDenied,
	"InvalidAccessException": AccessDenied, "InvalidSecurity": AccessDenied,

	"DisabledException": Disabled, "KMSDisabledException": Disabled, "KMSDisabled": Disabled,

	"KMSInvalidStateException": InvalidState, "KMSInvalidState": InvalidState,

	"KMSOptInRequired": OptIn, "KMSOptInRequiredException": OptIn, "OptInRequired": OptIn,

	"ValidationException": Invalid, "ValidationError": Invalid, "InvalidParameter": Invalid,
	"InvalidParameterException": Invalid, "InvalidParameterValue": Invalid,
	"InvalidParameterValueException": Invalid, "ParameterValueInvalid": Invalid,
	"InvalidParameterCombination": Invalid, "MissingParameter": Invalid,
	"MalformedPolicyDocumentException": Invalid, "InvalidArnException": Invalid,
	"InvalidAliasNameException": Invalid, "InvalidMarkerException": Invalid,
	"InvalidNextToken": Invalid, "InvalidNextTokenException": Invalid,
	"InvalidInputException": Invalid, "InvalidResultTokenException": Invalid,
	"SerializationException": Invalid, "InvalidAction": Invalid,
}

// Classify says what kind of failure err is. It matches AWS error codes
// (errors.As on smithy.APIError, which every typed SNS/KMS exception
// implements), never HTTP statuses, because emulators answer with other
// statuses than AWS; only an error whose code is unknown and which carries
// a 5xx status counts as a server fault.
func Classify(err error) Class {
	if err == nil {
		return Other
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		if c, ok := errorCodes[api.ErrorCode()]; ok {
			return c
		}
	}
	var quota ratelimit.QuotaExceededError
	if errors.As(err, &quota) {
		return Retryable // the SDK's retry budget ran out: the cause was transient
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Retryable
	}
	if errors.Is(err, context.Canceled) {
		return Other
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && status.HTTPStatusCode() >= 500 {
		return Retryable
	}
	if isConnectionError(err) {
		return Retryable
	}
	return Other
}

func isConnectionError(err error) bool {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return true
	}
	var conn interface{ ConnectionError() bool }
	if errors.As(err, &conn) && conn.ConnectionError() {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection reset") || strings.Contains(msg, "unexpected EOF") ||
		strings.Contains(msg, "use of closed network connection")
}

// ErrorCode returns the AWS error code of err ("" when it has none), for
// messages and logs.
func ErrorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// retryByCode decides retries for the SDK's retryer by error code first, so
// that an emulator's 500 on a NotFound is not retried and SNS "Throttled" or
// "KMSThrottling" (unknown to the SDK) are; other errors fall through to the
// SDK's own checks.
func retryByCode(err error) aws.Ternary {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return aws.UnknownTernary
	}
	c, ok := errorCodes[api.ErrorCode()]
	if !ok {
		return aws.UnknownTernary
	}
	return aws.BoolTernary(c == Retryable)
}

// throttleByCode tells adaptive retry to slow down on every throttling code,
// including the SNS and KMS-through-SNS spellings the SDK does not list.
func throttleByCode(err error) aws.Ternary {
	switch ErrorCode(err) {
	case "Throttling", "ThrottlingException", "Throttled", "ThrottledException", "KMSThrottlingException",
		"KMSThrottling", "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled",
		"RequestThrottledException", "SlowDown":
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}
