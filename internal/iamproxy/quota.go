package iamproxy

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
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
// name the same bucket.
type quota struct {
	bucket string
	rate   float64
	burst  float64
}

// quotas are the documented default request-rate quotas of every operation
// the functions call, per account and Region (each service's quotas are per
// account and Region). Where a page lists no burst, the bucket holds one
// second of requests. Sources:
//
//   - Amazon SNS, "API throttling" in Amazon Simple Notification Service
//     endpoints and quotas: https://docs.aws.amazon.com/general/latest/gr/sns.html
//     ("Amazon SNS API calls can't exceed the maximum allowed API request rate
//     for each AWS account and Region":
//     https://repost.aws/knowledge-center/sns-throttling-exception-errors).
//     Publish is the us-east-1 figure of that table.
//   - AWS KMS, "Request quotas for each AWS KMS API operation" (each
//     operation below has its own quota; only the cryptographic operations
//     share one): https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html
//   - AWS Config, endpoints and quotas:
//     https://docs.aws.amazon.com/general/latest/gr/awsconfig.html
//   - Amazon EventBridge quotas:
//     https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html
//   - Amazon CloudWatch quotas (DescribeAlarms):
//     https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html
//   - AWS Security Hub quotas (BatchImportFindings):
//     https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-limits.html
//
// Caveat: when this table was written the pages' introductions and error
// shapes could be read but not their numeric tables, so the values below are
// the defaults as remembered, not as re-read; check each against its page
// before quoting a figure (KMS's throttling page, for one, gives "1000
// DescribeKey requests in one second" as an example, not as the quota:
// https://docs.aws.amazon.com/kms/latest/developerguide/throttling.html).
// The AWS Config rates bound the benchmark's sweep time most.
//
// STS (GetCallerIdentity, AssumeRole) and Lambda Invoke are not metered: a
// function makes one or two such calls per invocation.
var quotas = map[string]quota{
	"sns:GetTopicAttributes":  {"sns:GetTopicAttributes", 100, 100},
	"sns:SetTopicAttributes":  {"sns:SetTopicAttributes", 100, 100},
	"sns:ListTopics":          {"sns:ListTopics", 30, 30},
	"sns:ListTagsForResource": {"sns:ListTagsForResource", 10, 10},
	"sns:Publish":             {"sns:Publish", 30000, 30000},

	"kms:DescribeKey":      {"kms:DescribeKey", 2000, 2000},
	"kms:GetKeyPolicy":     {"kms:GetKeyPolicy", 1000, 1000},
	"kms:PutKeyPolicy":     {"kms:PutKeyPolicy", 5, 5},
	"kms:ListAliases":      {"kms:ListAliases", 100, 100},
	"kms:ListResourceTags": {"kms:ListResourceTags", 100, 100},

	"config:PutEvaluations":           {"config:PutEvaluations", 20, 20},
	"config:SelectResourceConfig":     {"config:SelectResourceConfig", 10, 10},
	"config:BatchGetResourceConfig":   {"config:BatchGetResourceConfig", 10, 10},
	"config:GetResourceConfigHistory": {"config:GetResourceConfigHistory", 10, 10},

	"events:ListRules":         {"events:ListRules", 50, 50},
	"events:ListEventBuses":    {"events:ListEventBuses", 50, 50},
	"events:ListTargetsByRule": {"events:ListTargetsByRule", 50, 50},

	"monitoring:DescribeAlarms": {"monitoring:DescribeAlarms", 9, 9},

	"securityhub:BatchImportFindings": {"securityhub:BatchImportFindings", 10, 30},
}

// limiter holds the buckets of one proxy, keyed by account, Region and
// quota. Each bucket is kept as the emulated time at which it is full again
// (GCRA's theoretical arrival time): a call at emulated time now conforms
// when tat-burst/rate <= now, and moves tat on by 1/rate.
type limiter struct {
	mode  QuotaMode
	clock func() time.Time

	mu        sync.Mutex
	start     time.Time
	waited    time.Duration // emulated time added by virtual waits
	tat       map[string]time.Duration
	throttled map[string]int
}

func newLimiter(mode QuotaMode, clock func() time.Time) *limiter {
	if clock == nil {
		clock = time.Now
	}
	return &limiter{mode: mode, clock: clock, start: clock(), tat: map[string]time.Duration{}, throttled: map[string]int{}}
}

// now is the emulated time since the proxy started: real time plus the
// waits the virtual clock charged instead of sleeping.
func (l *limiter) now() time.Duration { return l.clock().Sub(l.start) + l.waited }

// admit takes a token for op in account and region. It returns false when
// the call must be answered as throttled (QuotaRealTime only).
func (l *limiter) admit(account, region, op string) bool {
	q, ok := quotas[op]
	if l == nil || l.mode == QuotaOff || !ok {
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
	const requestID = "00000000-0000-4000-8000-7412077112ed"
	w.Header().Set("X-Amzn-Requestid", requestID)
	switch c.proto {
	case protoQuery:
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		var msg bytes.Buffer
		_ = xml.EscapeText(&msg, []byte("Rate exceeded"))
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>Throttling</Code>`+
			`<Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`, msg.String(), requestID)
	case protoCBOR:
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("X-Amzn-Query-Error", "Throttling;Sender")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(cborStringMap([][2]string{{"__type", "ThrottlingException"}, {"message", "Rate exceeded"}}))
	case protoREST:
		b, _ := json.Marshal(map[string]string{"Message": "Rate exceeded", "Code": "TooManyRequestsException"})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Errortype", "TooManyRequestsException")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write(b)
	default:
		msg := "Rate exceeded"
		if c.service == "kms" {
			msg = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
		}
		b, _ := json.Marshal(map[string]string{"__type": "ThrottlingException", "message": msg})
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(b)
	}
}

// burstSeconds is for tests: how many calls a fresh bucket of op admits at
// once.
func burstOf(op string) int { return int(math.Floor(quotas[op].burst)) }
