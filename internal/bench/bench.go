// Package bench measures the product's speed and cost at scale: a
// scheduled sweep of 10,000 topics on 50 keys against kumo (time, AWS calls
// against the minimum, peak memory of the function process) and topic-guard's
// cold start under aws-lambda-rie against a baseline and a minimal handler.
// `make bench` runs cmd/bench; this package holds the pieces that can be
// tested without emulators (the call minimum, log parsing, seeding, /proc).
//
// It is measurement support, never shipped in a Lambda bundle.
package bench

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
)

// Minimum is the fewest AWS calls a sweep of topics on keys can make:
// ceil(N/100) ListTopics + N GetTopicAttributes + 2K (DescribeKey,
// GetKeyPolicy) + ceil(N/100) PutEvaluations, plus the discovery pages when
// DISCOVER_SOURCES=true (the bench runs without discovery, so discovery is 0).
func Minimum(topics, keys, discovery int) int {
	pages := (topics + 99) / 100
	return pages + topics + 2*keys + pages + discovery
}

// MinimumRecorded is the fewest AWS calls a Config-first sweep of topics on
// keys can make when AWS Config records every topic with its policy: per
// page of 100 topics one SelectResourceConfig, one BatchGetResourceConfig
// and one PutEvaluations, plus 2K (DescribeKey, GetKeyPolicy per key), plus
// the one STS GetCallerIdentity a function process makes (self-recognition).
// With policyFromSNS (configuration items without the access policy) each
// topic adds one GetTopicAttributes.
func MinimumRecorded(topics, keys int, policyFromSNS bool) int {
	pages := (topics + 99) / 100
	n := 3*pages + 2*keys + 1
	if policyFromSNS {
		n += topics
	}
	return n
}

// Total sums a report's apiCalls map.
func Total(calls map[string]int) int {
	n := 0
	for _, v := range calls {
		n += v
	}
	return n
}

// Benchmark policies: half the keys grant CloudWatch with the confused-deputy
// conditions (compliant), half keep kumo's default root-only policy
// (GRANT_MISSING for CloudWatch), so the sweep judges both paths.
const (
	compliantPolicy = `{"Version":"2012-10-17","Id":"bench","Statement":[` +
		`{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"},` +
		`{"Sid":"AllowCloudWatch","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*",` +
		`"Condition":{"StringEquals":{"aws:SourceAccount":"000000000000"},"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:000000000000:alarm:*"}}}]}`
)

// SweepSeed returns kumo state with topics spread evenly over keys. Each key
// is named one way by all its topics, but the spellings vary across keys (key
// ARN, key id, alias name), as they do in real accounts; every key has an
// alias.
func SweepSeed(topics, keys int) *emulator.KumoSeed {
	s := &emulator.KumoSeed{}
	refs := make([]string, keys)
	for k := range keys {
		id := fmt.Sprintf("bench%03d-0000-4000-8000-000000000000", k)
		alias := fmt.Sprintf("alias/bench-%03d", k)
		key := emulator.SeedKey{ID: id, Aliases: []string{alias}}
		if k%2 == 0 {
			key.Policy = compliantPolicy
		}
		s.Keys = append(s.Keys, key)
		switch k % 3 {
		case 0:
			refs[k] = "arn:aws:kms:" + emulator.KumoRegion + ":" + emulator.KumoAccount + ":key/" + id
		case 1:
			refs[k] = id
		default:
			refs[k] = alias
		}
	}
	for i := range topics {
		s.Topics = append(s.Topics, emulator.SeedTopic{
			Name:       fmt.Sprintf("bench-topic-%05d", i),
			Attributes: map[string]string{"KmsMasterKeyId": refs[i%keys]},
		})
	}
	return s
}

// topicPolicy is SNS's default access policy of a topic (owner-only), as
// GetTopicAttributes returns it and the sweep's configuration items carry it.
func topicPolicy(arn string) string {
	return `{"Version":"2008-10-17","Id":"__default_policy_ID","Statement":[{"Sid":"__default_statement_ID","Effect":"Allow",` +
		`"Principal":{"AWS":"*"},"Action":["SNS:GetTopicAttributes","SNS:SetTopicAttributes","SNS:AddPermission","SNS:RemovePermission",` +
		`"SNS:DeleteTopic","SNS:Subscribe","SNS:ListSubscriptionsByTopic","SNS:Publish"],"Resource":"` + arn + `",` +
		`"Condition":{"StringEquals":{"AWS:SourceOwner":"` + emulator.KumoAccount + `"}}}]}`
}

// RecordedSweepSeed is SweepSeed as AWS Config records it: kumo holds the
// keys (the sweep reads them from KMS), the Config fake the topics with
// their key reference and default access policy (the sweep reads no SNS).
// With policyFromSNS the configuration items carry no access policy, as if
// AWS Config did not record it: kumo then holds the topics too, and the
// sweep reads each one's policy with GetTopicAttributes.
func RecordedSweepSeed(topics, keys int, policyFromSNS bool) (*emulator.KumoSeed, []emulator.ConfigTopic) {
	full := SweepSeed(topics, keys)
	recorded := make([]emulator.ConfigTopic, len(full.Topics))
	for i, t := range full.Topics {
		arn := "arn:aws:sns:" + emulator.KumoRegion + ":" + emulator.KumoAccount + ":" + t.Name
		recorded[i] = emulator.ConfigTopic{ARN: arn, KmsMasterKeyID: t.Attributes["KmsMasterKeyId"], Policy: topicPolicy(arn), NoPolicy: policyFromSNS}
	}
	if !policyFromSNS {
		full.Topics = nil
	}
	return full, recorded
}

// SweepEvent is a Config periodic (ScheduledNotification) invocation with a
// real result token, so the evaluations are sent, in batches, to the Config
// fake. CloudWatch is required on every topic.
func SweepEvent() []byte {
	return []byte(`{"invokingEvent":"{\"awsAccountId\":\"000000000000\",\"notificationCreationTime\":\"2025-03-15T00:00:00.373Z\",\"messageType\":\"ScheduledNotification\",\"recordVersion\":\"1.0\"}",` +
		`"ruleParameters":"{\"requiredServicePrincipals\":\"cloudwatch.amazonaws.com\"}","resultToken":"bench-token","eventLeftScope":false,` +
		`"executionRoleArn":"arn:aws:iam::000000000000:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig",` +
		`"configRuleArn":"arn:aws:config:us-east-1:000000000000:config-rule/config-rule-bench","configRuleName":"snskeyguard-bench",` +
		`"configRuleId":"config-rule-bench","accountId":"000000000000","version":"1.0"}`)
}

var (
	initReportLine = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	invokeDoneLine = regexp.MustCompile(`INVOKE RTDONE\(status: [a-z]+, produced bytes: [0-9]+, duration: ([0-9.]+)ms\)`)
	reportLine     = regexp.MustCompile(`(?m)^REPORT RequestId: \S+\t(?:Init Duration: [0-9.]+ ms\t)?Duration: ([0-9.]+) ms`)
)

// ColdStart is one fresh start read from aws-lambda-rie's log.
type ColdStart struct {
	Init   time.Duration // INIT REPORT durationMs: exec until the runtime asks for work
	Invoke time.Duration // the first INVOKE RTDONE duration
	// Report is the first REPORT line's Duration. Under aws-lambda-rie it
	// already includes the init (unlike Lambda's), so Init+Report would
	// count init twice; it is kept to show that.
	Report time.Duration
}

// Total is init plus the first invocation: work moved out of init still counts.
func (c ColdStart) Total() time.Duration { return c.Init + c.Invoke }

// ParseColdStart reads the first init and invocation of a fresh emulator.
func ParseColdStart(logs string) (ColdStart, error) {
	var c ColdStart
	for _, f := range []struct {
		re   *regexp.Regexp
		into *time.Duration
		name string
	}{{initReportLine, &c.Init, "INIT REPORT"}, {invokeDoneLine, &c.Invoke, "INVOKE RTDONE"}, {reportLine, &c.Report, "REPORT"}} {
		m := f.re.FindStringSubmatch(logs)
		if m == nil {
			return ColdStart{}, fmt.Errorf("no %s line in the emulator log", f.name)
		}
		ms, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return ColdStart{}, fmt.Errorf("%s: %w", f.name, err)
		}
		*f.into = time.Duration(ms * float64(time.Millisecond))
	}
	return c, nil
}

// Median of a non-empty sample (the mean of the middle two for an even size).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// PeakRSS is a process's peak resident set (VmHWM) in bytes.
func PeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmHWM(string(b))
}

func parseVmHWM(status string) (int64, error) {
	for line := range strings.SplitSeq(status, "\n") {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmHWM line %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmHWM in /proc status")
}

var nsPerOp = regexp.MustCompile(`(?m)^Benchmark\w+(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op`)

// ParseNsPerOp reads the first benchmark's ns/op from `go test -bench` output.
func ParseNsPerOp(out string) (float64, error) {
	m := nsPerOp.FindStringSubmatch(out)
	if m == nil {
		return 0, errors.New("no benchmark result in the output")
	}
	return strconv.ParseFloat(m[1], 64)
}
