package iamproxy

import (
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"
)

// QuotaMode says whether and how the proxy holds calls to the request-rate
// quotas of the services.
type QuotaMode int

const (
	// QuotaOff forwards every call (no quota).
	QuotaOff QuotaMode = iota
	// QuotaRealTime answers a call that finds its bucket empty as the
	// service answers an over-quota call (the SDK's retryer backs off and
	// retries in real time): for e2e tests, which make few calls.
	QuotaRealTime
	// QuotaVirtual never refuses: a call that finds its bucket empty is
	// served at the time the bucket would next hold a token, and that wait
	// is added to the emulated clock instead of being slept. EmulatedTime
	// then says how long the calls would have taken under the quotas,
	// deterministically whatever the load of the machine: for benchmarks.
	QuotaVirtual
)

// quota is one token bucket: rate requests per second, refilled
// continuously, holding at most burst tokens. Calls that share a quota
// name the same bucket. source is where the figure comes from; documented
// says whether that source states it (false: no AWS page read for this
// table states a rate for the operation, and the figure is an assumption,
// chosen on the low side so that the benchmark does not flatter the sweep).
type quota struct {
	bucket     string
	rate       float64
	burst      float64
	documented bool
	source     string
}

// Sources of the table below, as read on 2026-12-07 (each service's quotas
// are per account and Region; where a page gives no burst, the bucket holds
// one second of requests):
const (
	// "Request quotas for each AWS KMS API operation" (DescribeKey 1000,
	// GetKeyPolicy 1000, ListAliases 100, ListResourceTags 100,
	// PutKeyPolicy 5 per second), read in the guide's source
	// (awsdocs/aws-kms-developer-guide, doc_source/requests-per-second.md,
	// its last revision); the live page may since give higher defaults,
	// which would only shorten the sweep.
	srcKMS = "https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html"
	// ListTopics: "This action is throttled at 30 transactions per second
	// (TPS)."
	srcSNSListTopics = "https://docs.aws.amazon.com/sns/latest/api/API_ListTopics.html"
	// "Tagging actions are limited to 10 TPS per AWS account, per AWS
	// Region."
	srcSNSTagging = "https://docs.aws.amazon.com/sns/latest/api/API_TagResource.html"
	// The General Reference's "API throttling" table for SNS: its
	// introduction could be read here, its per-operation figures could not.
	srcSNSTable = "https://docs.aws.amazon.com/general/latest/gr/sns.html"
	// AWS Config's service-limits page lists resource counts only (rules,
	// aggregators, conformance packs, saved queries) and no request rate for
	// any API (awsdocs/aws-config-developer-guide, doc_source/configlimits.md).
	srcConfig = "https://docs.aws.amazon.com/config/latest/developerguide/configlimits.html"
	// "All EventBridge APIs other than PutEvents are limited to 50 requests
	// per second by default."
	srcEvents = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html"
	// "DescribeAlarms: 9 transactions per second (TPS) per Region."
	srcCloudWatch = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html"
	// "The throttle rate limit is 10 TPS per account per Region, with a
	// burst of 30 TPS."
	srcSecurityHub = "https://docs.aws.amazon.com/securityhub/latest/partnerguide/guidelines-batchimportfindings.html"
)

// quotas are the request-rate quotas of every operation the functions call
// that AWS meters per account and Region. Not metered here: STS
// (GetCallerIdentity, AssumeRole) and Lambda Invoke, one or two calls per
// invocation; SQS SendMessage ("Standard queues support a nearly unlimited
// number of API calls per second, per API action":
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues.html).
//
// Throttled answers follow each service's documented error shape (throttle,
// below; KMS: https://docs.aws.amazon.com/kms/latest/developerguide/throttling.html).
//
// The AWS Config rates are assumptions, and they bound the Config-first
// sweep's time (one SelectResourceConfig, one BatchGetResourceConfig and
// one PutEvaluations per page of 100 topics): `go run ./cmd/bench -only
// sweep -quota config:SelectResourceConfig=R ...` measures the sweep under
// any other figure.
var quotas = map[string]quota{
	"sns:ListTopics":          {"sns:ListTopics", 30, 30, true, srcSNSListTopics},
	"sns:ListTagsForResource": {"sns:ListTagsForResource", 10, 10, true, srcSNSTagging},
	"sns:GetTopicAttributes":  {"sns:GetTopicAttributes", 100, 100, false, srcSNSTable},
	"sns:SetTopicAttributes":  {"sns:SetTopicAttributes", 100, 100, false, srcSNSTable},
	"sns:Publish":             {"sns:Publish", 30000, 30000, false, srcSNSTable},

	"kms:DescribeKey":      {"kms:DescribeKey", 1000, 1000, true, srcKMS},
	"kms:GetKeyPolicy":     {"kms:GetKeyPolicy", 1000, 1000, true, srcKMS},
	"kms:PutKeyPolicy":     {"kms:PutKeyPolicy", 5, 5, true, srcKMS},
	"kms:ListAliases":      {"kms:ListAliases", 100, 100, true, srcKMS},
	"kms:ListResourceTags": {"kms:ListResourceTags", 100, 100, true, srcKMS},

	"config:PutEvaluations":           {"config:PutEvaluations", 20, 20, false, srcConfig},
	"config:SelectResourceConfig":     {"config:SelectResourceConfig", 10, 10, false, srcConfig},
	"config:BatchGetResourceConfig":   {"config:BatchGetResourceConfig", 10, 10, false, srcConfig},
	"config:GetResourceConfigHistory": {"config:GetResourceConfigHistory", 10, 10, false, srcConfig},

	"events:ListRules":         {"events:ListRules", 50, 50, true, srcEvents},
	"events:ListEventBuses":    {"events:ListEventBuses", 50, 50, true, srcEvents},
	"events:ListTargetsByRule": {"events:ListTargetsByRule", 50, 50, true, srcEvents},

	"monitoring:DescribeAlarms": {"monitoring:DescribeAlarms", 9, 9, true, srcCloudWatch},

	"securityhub:BatchImportFindings": {"securityhub:BatchImportFindings", 10, 30, true, srcSecurityHub},
}

// QuotaTable returns the proxy's quota table with overrides applied: each
// override is a rate (requests per second, > 0) for an operation of the
// table ("config:SelectResourceConfig"), and its bucket then holds one
// second of requests. An operation not in the table is an error.
func QuotaTable(overrides map[string]float64) (map[string]quota, error) {
	t := make(map[string]quota, len(quotas))
	for k, v := range quotas {
		t[k] = v
	}
	for op, rate := range overrides {
		q, ok := t[op]
		if !ok {
			return nil, fmt.Errorf("quota override %q: no such metered operation", op)
		}
		if !(rate > 0) || math.IsInf(rate, 0) {
			return nil, fmt.Errorf("quota override %q: rate must be a positive number, got %v", op, rate)
		}
		q.rate, q.burst, q.documented, q.source = rate, rate, false, "override"
		t[op] = q
	}
	return t, nil
}

// limiter holds the buckets of one proxy, keyed by account, Region and
// quota. Each bucket is kept as the emulated time at which it is full again
// (GCRA's theoretical arrival time): a call at emulated time now conforms
// when tat-burst/rate <= now, and moves tat on by 1/rate.
type limiter struct {
	mode  QuotaMode
	clock func() time.Time
	table map[string]quota

	mu        sync.Mutex
	start     time.Time
	waited    time.Duration // emulated time added by virtual waits
	tat       map[string]time.Duration
	throttled map[string]int
}

func newLimiter(mode QuotaMode, clock func() time.Time, table map[string]quota) *limiter {
	if clock == nil {
		clock = time.Now
	}
	if table == nil {
		table = quotas
	}
	return &limiter{mode: mode, clock: clock, table: table, start: clock(), tat: map[string]time.Duration{}, throttled: map[string]int{}}
}

// now is the emulated time since the proxy started: real time plus the
// waits the virtual clock charged instead of sleeping.
func (l *limiter) now() time.Duration { return l.clock().Sub(l.start) + l.waited }

// admit takes a token for op in account and region. It returns false when
// the call must be answered as throttled (QuotaRealTime only).
func (l *limiter) admit(account, region, op string) bool {
	if l == nil || l.mode == QuotaOff {
		return true
	}
	q, ok := l.table[op]
	if !ok {
		return true
	}
	interval := time.Duration(float64(time.Second) / q.rate)
	tolerance := time.Duration(float64(time.Second) * (q.burst - 1) / q.rate)
	key := account + "/" + region + "/" + q.bucket
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	tat := l.tat[key]
	if tat < now {
		tat = now
	}
	allowedAt := tat - tolerance
	if allowedAt > now {
		if l.mode == QuotaRealTime {
			l.throttled[op]++
			return false
		}
		l.waited += allowedAt - now // the call waits for its token in emulated time
	}
	l.tat[key] = tat + interval
	return true
}

// EmulatedTime is how long, in emulated time, the proxy has run: real time
// plus every wait QuotaVirtual charged instead of sleeping.
func (p *Proxy) EmulatedTime() time.Duration {
	if p.quota == nil {
		return 0
	}
	p.quota.mu.Lock()
	defer p.quota.mu.Unlock()
	return p.quota.now()
}

// QuotaWaits is the emulated time QuotaVirtual added to the clock.
func (p *Proxy) QuotaWaits() time.Duration {
	if p.quota == nil {
		return 0
	}
	p.quota.mu.Lock()
	defer p.quota.mu.Unlock()
	return p.quota.waited
}

// Throttled returns the calls answered as over quota, by operation.
func (p *Proxy) Throttled() map[string]int {
	out := map[string]int{}
	if p.quota == nil {
		return out
	}
	p.quota.mu.Lock()
	defer p.quota.mu.Unlock()
	for k, v := range p.quota.throttled {
		out[k] = v
	}
	return out
}

// throttle answers an over-quota call as the service does:
//   - SNS (awsQuery): HTTP 400, Code Throttling, "Rate exceeded" (the
//     message AWS gives, "An error occurred (ThrottlingException) when
//     calling the Publish operation: Rate exceeded":
//     https://repost.aws/knowledge-center/sns-throttling-exception-errors;
//     "Throttling" is the query-protocol code the SDK's retryer lists as a
//     throttle, retry.DefaultThrottleErrorCodes).
//   - KMS (awsJson): HTTP 400, ThrottlingException, "You have exceeded the
//     rate at which you may call KMS. Reduce the frequency of your calls."
//     https://docs.aws.amazon.com/kms/latest/developerguide/throttling.html
//   - Config, EventBridge (awsJson): HTTP 400, ThrottlingException, "Rate
//     exceeded" (the common error of both APIs:
//     https://docs.aws.amazon.com/config/latest/APIReference/CommonErrors.html).
//   - CloudWatch (RPC v2 CBOR, query compatible): HTTP 400, x-amzn-query-error
//     "Throttling;Sender".
//   - Security Hub (restJson1): HTTP 429, TooManyRequestsException
//     (LimitExceededException is its resource-count error).
func (p *Proxy) throttle(w http.ResponseWriter, c *call) {
	e := awsError{requestID: "00000000-0000-4000-8000-7412077112ed", status: http.StatusBadRequest, message: "Rate exceeded",
		xmlns: "http://sns.amazonaws.com/doc/2010-03-31/", queryCode: "Throttling", cborType: "ThrottlingException",
		restStatus: http.StatusTooManyRequests, restCode: "TooManyRequestsException",
		jsonStatus: http.StatusBadRequest, jsonType: "ThrottlingException"}
	if c.service == "kms" {
		e.message = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
	}
	e.write(w, c.proto)
}

// burstSeconds is for tests: how many calls a fresh bucket of op admits at
// once.
func burstOf(op string) int { return int(math.Floor(quotas[op].burst)) }
