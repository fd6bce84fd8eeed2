package awsedge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrSelectUnavailable marks a failed or untrustworthy AWS Config lookup of a
// key's topics (no recorder, topics not recorded, no permission, no Config in
// the partition or emulator). It is not a fault: the caller lists topics
// instead. Match it with errors.Is, or, from a package that must not import
// this one, with errors.As on interface{ Unavailable() bool }.
var ErrSelectUnavailable = errors.New("AWS Config cannot list the topics of a key")

// SelectUnavailableError wraps the reason (often the Config API error, so
// Classify and ErrorCode still see its code) as ErrSelectUnavailable.
type SelectUnavailableError struct {
	Reason string
	Err    error // nil when Config answered but cannot be trusted
}

func (e *SelectUnavailableError) Error() string {
	msg := ErrSelectUnavailable.Error() + ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *SelectUnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrSelectUnavailable) true.
func (e *SelectUnavailableError) Is(target error) bool { return target == ErrSelectUnavailable }

// Unavailable lets the guard recognise the error without importing awsedge.
func (e *SelectUnavailableError) Unavailable() bool { return true }

// selectUnavailableCodes are the Config answers that mean "Config cannot
// answer this account's topic question", as opposed to a transient fault.
// UnknownOperationException is what emulators (kumo) answer.
var selectUnavailableCodes = map[string]bool{
	"NoSuchConfigurationRecorderException":      true,
	"NoAvailableConfigurationRecorderException": true,
	"NoRunningConfigurationRecorderException":   true,
	"AccessDeniedException":                     true,
	"AccessDenied":                              true,
	"UnauthorizedOperation":                     true,
	"UnknownOperationException":                 true,
	"UnsupportedOperation":                      true,
	"InvalidExpressionException":                true,
	"OptInRequired":                             true,
	"SubscriptionRequiredException":             true,
}

// SelectTopicsByKey returns the ARNs of this account's SNS topics whose
// KmsMasterKeyId is one of refs (the ways a topic can name the key: key ARN,
// key id, alias names, alias ARNs; SNS stores the value as given), from one
// AWS Config advanced query, all pages. keyARN is for messages only.
//
// An empty answer is ambiguous (no topic uses the key, or Config records no
// topics); it is trusted only when a count query shows Config records at
// least one topic, otherwise the error is ErrSelectUnavailable, as it is for
// the codes in selectUnavailableCodes. Other errors are returned as they are.
func (a *Account) SelectTopicsByKey(ctx context.Context, keyARN string, refs []string) ([]string, error) {
	expr, err := topicsByKeyExpression(refs)
	if err != nil {
		return nil, &SelectUnavailableError{Reason: fmt.Sprintf("key %s: %v", keyARN, err)}
	}
	rows, err := a.SelectResources(ctx, expr)
	if err != nil {
		return nil, selectError(keyARN, err)
	}
	arns, err := topicARNs(rows)
	if err != nil {
		return nil, fmt.Errorf("select topics of key %s: %w", keyARN, err)
	}
	if len(arns) > 0 {
		return arns, nil
	}
	n, err := a.recordedTopics(ctx)
	if err != nil {
		return nil, selectError(keyARN, err)
	}
	if n == 0 {
		return nil, &SelectUnavailableError{Reason: "AWS Config has recorded no SNS topic in this account and region"}
	}
	return []string{}, nil
}

func selectError(keyARN string, err error) error {
	if selectUnavailableCodes[ErrorCode(err)] {
		return &SelectUnavailableError{Reason: "key " + keyARN, Err: err}
	}
	return fmt.Errorf("select topics of key %s: %w", keyARN, err)
}

// topicsByKeyExpression builds the advanced query. Config's SQL has no
// escaping for quotes; no valid key id, ARN or alias contains one, so such
// a reference is refused rather than escaped.
func topicsByKeyExpression(refs []string) (string, error) {
	seen := map[string]bool{}
	var quoted []string
	for _, r := range refs {
		r = strings.TrimSpace(r)
		if r == "" || seen[r] {
			continue
		}
		if strings.ContainsAny(r, `'"\`) {
			return "", fmt.Errorf("key reference %q cannot be quoted in a Config query", r)
		}
		seen[r] = true
		quoted = append(quoted, "'"+r+"'")
	}
	if len(quoted) == 0 {
		return "", errors.New("no key reference to look for")
	}
	sort.Strings(quoted) // a stable expression for tests and Config's query logs
	return "SELECT arn, resourceId WHERE resourceType = 'AWS::SNS::Topic' AND configuration.KmsMasterKeyId IN (" +
		strings.Join(quoted, ", ") + ")", nil
}

// topicARNs reads the rows of the query; for AWS::SNS::Topic the resource id
// is the ARN too, so either field serves.
func topicARNs(rows []json.RawMessage) ([]string, error) {
	seen := map[string]bool{}
	arns := []string{}
	for _, r := range rows {
		var row struct {
			ARN        string `json:"arn"`
			ResourceID string `json:"resourceId"`
		}
		if err := json.Unmarshal(r, &row); err != nil {
			return nil, fmt.Errorf("result row %s: %w", r, err)
		}
		arn := row.ARN
		if arn == "" {
			arn = row.ResourceID
		}
		if !strings.HasPrefix(arn, "arn:") || seen[arn] {
			continue
		}
		seen[arn] = true
		arns = append(arns, arn)
	}
	sort.Strings(arns)
	return arns, nil
}

const countTopicsExpression = "SELECT COUNT(*) WHERE resourceType = 'AWS::SNS::Topic'"

// recordedTopics counts the topics Config has recorded in this account and
// region; an answer without a number counts as none.
func (a *Account) recordedTopics(ctx context.Context) (int, error) {
	rows, err := a.SelectResources(ctx, countTopicsExpression)
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, nil
	}
	var row map[string]json.Number
	dec := json.NewDecoder(strings.NewReader(string(rows[0])))
	dec.UseNumber()
	if err := dec.Decode(&row); err != nil {
		return 0, nil
	}
	for _, v := range row {
		if n, err := v.Int64(); err == nil {
			return int(n), nil
		}
	}
	return 0, nil
}
