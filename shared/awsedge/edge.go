// Package awsedge is the product's only door to AWS: it builds the SDK
// configuration (adaptive retries, per-attempt timeouts, endpoints only from
// the SDK's own AWS_ENDPOINT_URL* variables), traces every client (shared/telemetry/tracing),
// counts every call, and turns SDK shapes into the pure model of shared/rules.
// Errors are classified here, once (Classify), so the layers above never look
// at AWS error codes. No AWS call is made while loading, so cold starts stay
// cheap; the caller's identity is learned on first need.
package awsedge

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/snskeyguard/snskeyguard/shared/telemetry"
	"github.com/snskeyguard/snskeyguard/shared/telemetry/tracing"
)

// Defaults for Options' zero values. Ten seconds per attempt is far above any
// healthy KMS/SNS answer yet lets a retry happen well inside Lambda's limit.
const (
	DefaultMaxAttempts    = 5
	DefaultAttemptTimeout = 10 * time.Second
	sessionName           = "snskeyguard"
)

// Options configures Load.
type Options struct {
	Region               string // "" = the SDK's own resolution (AWS_REGION in Lambda)
	CrossAccountRoleName string // role assumed in other accounts ("" = act only in the own account)
	// Profile is the shared-config profile ("" = the SDK's own resolution:
	// AWS_PROFILE, else default); EndpointURL overrides every service's
	// endpoint as AWS_ENDPOINT_URL does ("" = the SDK's own resolution).
	Profile, EndpointURL string

	MaxAttempts    int           // per API call, retries included; 0 = DefaultMaxAttempts
	AttemptTimeout time.Duration // per HTTP attempt; 0 = DefaultAttemptTimeout
	// HTTPClient replaces the transport (tests replay recorded responses
	// through it); nil = the SDK's client with AttemptTimeout.
	HTTPClient aws.HTTPClient
}

// ErrNoCrossAccountRole is returned by Account for another account when no
// CrossAccountRoleName is configured.
var ErrNoCrossAccountRole = errors.New("no cross-account role configured (CROSS_ACCOUNT_ROLE_NAME)")

// Edge holds the SDK configuration, the call counters and the clients of the
// function's own account, plus the clients of other accounts once assumed.
// It is safe for concurrent use.
type Edge struct {
	opts     Options
	cfg      aws.Config
	calls    telemetry.Counter
	attempts telemetry.Counter
	self     *Account
	now      func() time.Time // injectable for exact ASFF timestamps in tests

	mu        sync.Mutex
	account   string // learned from GetCallerIdentity
	callerARN string
	partition string
	others    map[string]*Account
}

// Load builds the SDK configuration and the own account's clients. It makes
// no AWS call.
func Load(ctx context.Context, opts Options) (*Edge, error) {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = DefaultAttemptTimeout
	}
	httpClient := opts.HTTPClient
	if httpClient == nil {
		httpClient = awshttp.NewBuildableClient().WithTimeout(opts.AttemptTimeout)
	}
	maxAttempts := opts.MaxAttempts
	load := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer { return newRetryer(maxAttempts) }),
	}
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	if opts.Profile != "" {
		load = append(load, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.EndpointURL != "" {
		load = append(load, config.WithBaseEndpoint(opts.EndpointURL))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	e := &Edge{opts: opts, others: map[string]*Account{}, now: time.Now}
	cfg.APIOptions = append(cfg.APIOptions, e.countCalls)
	tracing.InstrumentAWS(&cfg.APIOptions)
	e.cfg = cfg
	e.self = newAccount(e, cfg, "")
	return e, nil
}

// newRetryer is adaptive retry (client-side rate limiting after throttles,
// so a sweep slows down instead of burning its retries) with our code-based
// decisions in front of the SDK's defaults.
func newRetryer(maxAttempts int) aws.Retryer {
	return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.Throttles = append([]retry.IsErrorThrottle{retry.IsErrorThrottleFunc(throttleByCode)}, o.Throttles...)
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts = maxAttempts
			so.MaxBackoff = 5 * time.Second
			// Keep "never retry a canceled context" first.
			so.Retryables = append([]retry.IsErrorRetryable{retry.NoRetryCanceledError{}, retry.IsErrorRetryableFunc(retryByCode)}, so.Retryables...)
			so.Throttles = append([]retry.IsErrorThrottle{retry.IsErrorThrottleFunc(throttleByCode)}, so.Throttles...)
		})
	})
}

// countCalls counts one per operation (Initialize step, before retries) and
// one per HTTP attempt (Finalize, after the retry loop).
func (e *Edge) countCalls(stack *middleware.Stack) error {
	err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("SNSKeyGuardCountCalls",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			e.calls.Add(callName(ctx))
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
	if err != nil {
		return err
	}
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("SNSKeyGuardCountAttempts",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			e.attempts.Add(callName(ctx))
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

func callName(ctx context.Context) string {
	// "Config Service" -> "ConfigService": one token per service in metrics.
	return strings.ReplaceAll(middleware.GetServiceID(ctx), " ", "") + "." + middleware.GetOperationName(ctx)
}

// Calls returns the AWS API calls made so far by "Service.Operation"
// (for example "KMS.DescribeKey"), one per call whatever its retries.
func (e *Edge) Calls() map[string]int { return e.calls.Snapshot() }

// Attempts returns the HTTP attempts made so far by "Service.Operation";
// Attempts minus Calls is the number of retries.
func (e *Edge) Attempts() map[string]int { return e.attempts.Snapshot() }

// Config returns a copy of the SDK configuration (for clients this package
// does not wrap; they then share counting and tracing).
func (e *Edge) Config() aws.Config { return e.cfg.Copy() }

// Region is the region the clients talk to.
func (e *Edge) Region() string { return e.cfg.Region }

// Identity returns the function's account and, for an assumed-role caller
// (Lambda's execution role), the role's ARN rather than the session's, so
// CloudTrail events caused by the guard itself can be recognised. It calls
// STS GetCallerIdentity once per process; a failure is not cached.
func (e *Edge) Identity(ctx context.Context) (account, roleARN string, err error) {
	e.mu.Lock()
	if e.account != "" {
		defer e.mu.Unlock()
		return e.account, RoleARN(e.callerARN), nil
	}
	e.mu.Unlock()
	out, err := e.self.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", "", fmt.Errorf("get caller identity: %w", err)
	}
	acct, arn := aws.ToString(out.Account), aws.ToString(out.Arn)
	if acct == "" {
		return "", "", errors.New("get caller identity: empty account")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.account, e.callerARN, e.partition = acct, arn, partitionOf(arn)
	return acct, RoleARN(arn), nil
}

var assumedRole = regexp.MustCompile(`^arn:([^:]+):sts::(\d{12}):assumed-role/([^/]+)/.+$`)

// RoleARN converts an STS assumed-role ARN
// (arn:aws:sts::<acct>:assumed-role/<role>/<session>) to the role's IAM ARN
// (arn:aws:iam::<acct>:role/<role>); other ARNs are returned unchanged. The
// session ARN carries no role path, so the result has none either: compare
// role names (RoleName) when the other side may include a path.
func RoleARN(callerARN string) string {
	m := assumedRole.FindStringSubmatch(callerARN)
	if m == nil {
		return callerARN
	}
	return "arn:" + m[1] + ":iam::" + m[2] + ":role/" + m[3]
}

// RoleName returns the last path element of an IAM role ARN
// (arn:aws:iam::1:role/path/name -> name), or of an assumed-role ARN's role;
// "" when the ARN names no role.
func RoleName(arn string) string {
	arn = RoleARN(arn)
	_, rest, ok := strings.Cut(arn, ":role/")
	if !ok || !strings.HasPrefix(arn, "arn:") {
		return ""
	}
	return rest[strings.LastIndex(rest, "/")+1:]
}

func partitionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) < 3 || parts[0] != "arn" || parts[1] == "" {
		return "aws"
	}
	return parts[1]
}

var accountIDPattern = regexp.MustCompile(`^\d{12}$`)

// Account returns the clients for accountID: the function's own for "" or
// its own account id (learned with one cached GetCallerIdentity), else
// clients whose credentials come from assuming CrossAccountRoleName in that
// account (cached per account; the SDK refreshes the credentials).
func (e *Edge) Account(ctx context.Context, accountID string) (*Account, error) {
	if accountID == "" {
		return e.self, nil
	}
	if !accountIDPattern.MatchString(accountID) {
		return nil, fmt.Errorf("account %q: not a 12-digit account id", accountID)
	}
	own, _, err := e.Identity(ctx)
	if err != nil {
		return nil, err
	}
	if accountID == own {
		return e.self, nil
	}
	if e.opts.CrossAccountRoleName == "" {
		return nil, fmt.Errorf("account %s: %w", accountID, ErrNoCrossAccountRole)
	}
	e.mu.Lock()
	if a, ok := e.others[accountID]; ok {
		e.mu.Unlock()
		return a, nil
	}
	partition := e.partition
	e.mu.Unlock()
	roleARN := "arn:" + partition + ":iam::" + accountID + ":role/" + strings.TrimPrefix(e.opts.CrossAccountRoleName, "/")
	cfg := e.cfg.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(e.self.sts, roleARN,
		func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = sessionName }))
	// Assume the role now, once, so that an account without it (the
	// management account, an account outside the StackSet's OUs, a role
	// whose trust does not name this function) is told apart from a fault of
	// the first call made with it. Failures are not cached.
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if Classify(err) == AccessDenied {
			return nil, &RoleUnavailableError{Account: accountID, RoleARN: roleARN, Err: err}
		}
		return nil, fmt.Errorf("assume role %s: %w", roleARN, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if a, ok := e.others[accountID]; ok {
		return a, nil
	}
	a := newAccount(e, cfg, accountID)
	e.others[accountID] = a
	return a, nil
}

// RoleUnavailableError says CROSS_ACCOUNT_ROLE_NAME could not be assumed in
// an account: STS denied it, because the role does not exist there or does
// not trust this function's role. That is a fact of the deployment, which no
// retry changes; the guard reports it instead of failing the invocation.
type RoleUnavailableError struct {
	Account string
	RoleARN string
	Err     error
}

func (e *RoleUnavailableError) Error() string {
	return fmt.Sprintf("the member role %s cannot be assumed in account %s (missing, or it does not trust this function): %v", e.RoleARN, e.Account, e.Err)
}

func (e *RoleUnavailableError) Unwrap() error { return e.Err }

// RoleUnavailable lets the guard recognise the error without importing awsedge.
func (e *RoleUnavailableError) RoleUnavailable() bool { return true }

// AccountIn returns the clients for accountID in region: the resource's
// region, which for an event forwarded across regions (organization rollout)
// is not the function's. "" or the function's region is Account.
func (e *Edge) AccountIn(ctx context.Context, accountID, region string) (*Account, error) {
	a, err := e.Account(ctx, accountID)
	if err != nil || region == "" || region == a.region {
		return a, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	key := a.id + "/" + region
	if r, ok := e.others[key]; ok {
		return r, nil
	}
	cfg := a.cfg.Copy()
	cfg.Region = region
	r := newAccount(e, cfg, a.id)
	e.others[key] = r
	return r, nil
}

// Account is the set of clients for one AWS account (and the edge's region).
type Account struct {
	edge   *Edge
	id     string // "" for the own account until GetCallerIdentity ran
	region string
	cfg    aws.Config // credentials and middleware, for the same account in another region

	sns         *sns.Client
	kms         *kms.Client
	sts         *sts.Client
	cloudwatch  *cloudwatch.Client
	eventbridge *eventbridge.Client
	config      *configservice.Client
	securityhub *securityhub.Client
	sqs         *sqs.Client
}

func newAccount(e *Edge, cfg aws.Config, id string) *Account {
	return &Account{
		edge: e, id: id, region: cfg.Region, cfg: cfg,
		sns:         sns.NewFromConfig(cfg),
		kms:         kms.NewFromConfig(cfg),
		sts:         sts.NewFromConfig(cfg),
		cloudwatch:  cloudwatch.NewFromConfig(cfg),
		eventbridge: eventbridge.NewFromConfig(cfg),
		config:      configservice.NewFromConfig(cfg),
		securityhub: securityhub.NewFromConfig(cfg),
		sqs:         sqs.NewFromConfig(cfg),
	}
}

// accountID returns the account these clients act in, asking STS (once per
// process) for the own account.
func (a *Account) accountID(ctx context.Context) (string, error) {
	if a.id != "" {
		return a.id, nil
	}
	acct, _, err := a.edge.Identity(ctx)
	return acct, err
}

// ID returns the account id when known without an AWS call ("" for the own
// account before Identity ran).
func (a *Account) ID() string {
	if a.id != "" {
		return a.id
	}
	a.edge.mu.Lock()
	defer a.edge.mu.Unlock()
	return a.edge.account
}
