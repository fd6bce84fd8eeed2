package trigger

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// arn is an ARN split into its fields; Resource keeps any further colons.
type arn struct{ Partition, Service, Region, Account, Resource string }

func (a arn) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.Account + ":" + a.Resource
}

// partitionOf returns the partition a region belongs to. Only the three
// public partitions are supported: the guard's per-service source-ARN table
// and its tests know no others, so an ISO region is refused rather than guessed.
func partitionOf(region string) (string, error) {
	if !validRegion(region) {
		return "", fmt.Errorf("region %s is not a region name", clip(region))
	}
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn", nil
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov", nil
	case strings.Contains(region, "-iso"):
		return "", fmt.Errorf("region %s is in an unsupported partition", clip(region))
	}
	return "aws", nil
}

func validAccount(s string) bool { return len(s) == 12 && allIn(s, isDigit) }

// parseARN splits and checks the fields every ARN the guard sees shares: a
// supported partition, a region (when present) of that partition, and an
// account (when present) of 12 digits.
func parseARN(s string) (arn, error) {
	p := strings.SplitN(s, ":", 6)
	if len(p) != 6 || p[0] != "arn" {
		return arn{}, fmt.Errorf("%s is not an ARN", clip(s))
	}
	a := arn{Partition: p[1], Service: p[2], Region: p[3], Account: p[4], Resource: p[5]}
	switch a.Partition {
	case "aws", "aws-cn", "aws-us-gov":
	default:
		return arn{}, fmt.Errorf("ARN %s: unsupported partition %s", clip(s), clip(a.Partition))
	}
	if a.Service == "" || a.Resource == "" {
		return arn{}, fmt.Errorf("ARN %s: missing service or resource", clip(s))
	}
	if a.Region != "" {
		part, err := partitionOf(a.Region)
		if err != nil {
			return arn{}, fmt.Errorf("ARN %s: %v", clip(s), err)
		}
		if part != a.Partition {
			return arn{}, fmt.Errorf("ARN %s: region %s is not in partition %s", clip(s), a.Region, a.Partition)
		}
	}
	if a.Account != "" && !validAccount(a.Account) {
		return arn{}, fmt.Errorf("ARN %s: account %s is not 12 digits", clip(s), clip(a.Account))
	}
	return a, nil
}

// parseTopicARN accepts arn:<partition>:sns:<region>:<account>:<topic name>.
func parseTopicARN(s string) (arn, error) {
	a, err := parseARN(s)
	if err != nil {
		return arn{}, err
	}
	if a.Service != "sns" {
		return arn{}, fmt.Errorf("ARN %s is not an SNS topic (service %s)", clip(s), clip(a.Service))
	}
	if a.Region == "" || a.Account == "" {
		return arn{}, fmt.Errorf("topic ARN %s: missing region or account", clip(s))
	}
	if err := checkTopicName(a.Resource); err != nil {
		return arn{}, fmt.Errorf("topic ARN %s: %v", clip(s), err)
	}
	return a, nil
}

func checkTopicName(name string) error {
	if len(name) > 256 || !validTopicName(name) {
		return fmt.Errorf("%s is not a topic name (1-256 letters, digits, - and _, optional .fifo)", clip(name))
	}
	return nil
}

// parseKeyARN accepts arn:<partition>:kms:<region>:<account>:key/<key id>.
func parseKeyARN(s string) (arn, error) {
	a, err := parseARN(s)
	if err != nil {
		return arn{}, err
	}
	if a.Service != "kms" || !strings.HasPrefix(a.Resource, "key/") {
		return arn{}, fmt.Errorf("ARN %s is not a KMS key", clip(s))
	}
	if a.Region == "" || a.Account == "" {
		return arn{}, fmt.Errorf("key ARN %s: missing region or account", clip(s))
	}
	if !validKeyID(strings.TrimPrefix(a.Resource, "key/")) {
		return arn{}, fmt.Errorf("key ARN %s: %s is not a key id", clip(s), clip(strings.TrimPrefix(a.Resource, "key/")))
	}
	return a, nil
}

// keyARN turns a key id or key ARN (as KMS management calls accept them)
// into a key ARN, completing a bare id with where the event happened.
func keyARN(idOrARN, partition, region, account string) (arn, error) {
	if strings.HasPrefix(idOrARN, "arn:") {
		return parseKeyARN(idOrARN)
	}
	if !validKeyID(idOrARN) {
		return arn{}, fmt.Errorf("%s is not a key id or key ARN", clip(idOrARN))
	}
	return arn{Partition: partition, Service: "kms", Region: region, Account: account, Resource: "key/" + idOrARN}, nil
}

// clip quotes an untrusted value for a message, cut to a readable length on
// a rune boundary, so a hostile event cannot blow up logs or reports.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", s[:cut])
}
