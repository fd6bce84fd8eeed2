// Package guard is the one engine behind every function. It is level-based:
// an event only says which topics or key to look at; the guard re-reads their
// current state, judges it with shared/rules, plans the smallest safe fix with
// shared/plan, then writes it (MODE=remediate) or reports it and alerts.
package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/snskeyguard/snskeyguard/shared/configrule"
	"github.com/snskeyguard/snskeyguard/shared/cost"
	"github.com/snskeyguard/snskeyguard/shared/fault"
	"github.com/snskeyguard/snskeyguard/shared/plan"
	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// The guard's view of AWS in one account, by capability. shared/awsedge
// implements all of them; tests use an in-memory fake; a caller that needs
// one capability takes only that interface.

// Topics reads SNS topics and re-points a topic at another key.
type Topics interface {
	GetTopic(ctx context.Context, topicARN string) (rules.Topic, error)
	TopicTags(ctx context.Context, topicARN string) (map[string]string, error)
	ListTopics(ctx context.Context) ([]string, error)
	SetTopicKey(ctx context.Context, topicARN, keyID string) error
}

// Keys reads KMS keys and writes a key policy.
type Keys interface {
	DescribeKey(ctx context.Context, keyID string) (rules.Key, error)
	KeyPolicy(ctx context.Context, keyID string) ([]byte, error)
	PutKeyPolicy(ctx context.Context, keyID string, policy []byte) error
	KeyAliases(ctx context.Context, keyID string) ([]string, error)
	KeyTags(ctx context.Context, keyID string) (map[string]string, error)
}

// Sources discovers the AWS sources that publish to topics: CloudWatch
// alarms and EventBridge rules, by topic ARN.
type Sources interface {
	AlarmTopics(ctx context.Context) (map[string][]string, error)
	RuleTopics(ctx context.Context) (map[string][]string, error)
}

// Outputs are where the guard reports: alerts (SNS), announcements the
// alert topic could not take (SQS), AWS Config evaluations, Security Hub
// findings.
type Outputs interface {
	Publish(ctx context.Context, topicARN, subject, message string, attrs map[string]string) error
	Enqueue(ctx context.Context, queueURL, body string, attrs map[string]string) error
	PutEvaluations(ctx context.Context, resultToken string, evals []configrule.Evaluation) error
	ImportFindings(ctx context.Context, findings []HubFinding) error
}

// Account is every capability in one account: what one evaluation session
// holds.
type Account interface {
	Topics
	Keys
	Sources
	Outputs
}

// ErrClass is how the guard treats an AWS error (classified once, at the
// edge): the one enum of shared/fault, so the edge and the guard agree on
// each class by name.
type ErrClass = fault.Class

const (
	ErrOther        = fault.Other
	ErrRetryable    = fault.Retryable
	ErrNotFound     = fault.NotFound
	ErrAccessDenied = fault.AccessDenied
	ErrDisabled     = fault.Disabled
	ErrInvalidState = fault.InvalidState
	ErrOptIn        = fault.OptIn
	ErrInvalid      = fault.Invalid
)

// Guard holds the wiring of one function instance.
type Guard struct {
	Settings Settings
	// Account returns the AWS view of an account ("" = the function's own)
	// in a region ("" = the function's own): where the resource lives.
	Account func(ctx context.Context, accountID, region string) (Account, error)
	// Identity returns the function's own account and role ARN (for self-recognition).
	Identity func(ctx context.Context) (account, roleARN string, err error)
	// Classify maps an AWS error to its class.
	Classify func(error) ErrClass
	Log      *slog.Logger
	Now      func() time.Time
	// Sleep waits between attempts to publish an alert (nil: a timer that
	// stops with ctx). Tests make it instant.
	Sleep func(ctx context.Context, d time.Duration) error
	// Function names the function in what it leaves behind (a queued
	// announcement): Lambda's AWS_LAMBDA_FUNCTION_NAME, else the entry point.
	Function string
	// RequestID is the invocation's Lambda request id ("" outside Lambda),
	// which the on-failure destination's record also carries
	// (requestContext.requestId), so the two can be matched.
	RequestID string
	// Continue starts another invocation of this function with event,
	// asynchronously (a sweep that would outlast the invocation hands its
	// rest over with a cursor); nil when the function cannot.
	Continue func(ctx context.Context, event []byte) error
}

// RetryableError wraps an AWS fault a retry can fix: the invocation fails so
// EventBridge retries and, at last, the dead-letter queue keeps the event.
type RetryableError struct{ Err error }

func (e *RetryableError) Error() string { return "retryable AWS fault: " + e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

func (g *Guard) log() *slog.Logger {
	if g.Log != nil {
		return g.Log
	}
	return slog.Default()
}

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *Guard) class(err error) ErrClass {
	if g.Classify == nil || err == nil {
		return ErrOther
	}
	return g.Classify(err)
}

// fault turns an AWS error into the invocation's error: retryable ones are
// marked so (the event is kept), others carry what failed.
func (g *Guard) fault(what string, err error) error {
	if g.class(err) == ErrRetryable || errors.Is(err, context.DeadlineExceeded) {
		return &RetryableError{Err: fmt.Errorf("%s: %w", what, err)}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// topicState is one topic as read, judged and acted on in this invocation.
type topicState struct {
	arn    string
	topic  rules.Topic
	key    *keyState // nil when unencrypted
	result rules.Result
	eval   report.Evaluation
	// repointTo is the remediation key the topic will be moved to.
	repointTo *keyState
	exempt    string // why the topic is exempt ("" = not)
	gone      bool
}

// keyState is one KMS key as read in this invocation, shared by its topics.
type keyState struct {
	ref    string // how it was first named
	key    rules.Key
	exempt string
	topics []*topicState // topics encrypted with it (or being moved to it)
}

// session caches what one invocation read, so each topic and key is read once.
type session struct {
	g        *Guard
	acct     Account
	central  Outputs              // the function's own account, for alerts (alertAccount)
	queue    Outputs              // the function's own account in the queue's Region (queueAccount)
	keys     map[string]*keyState // by reference and by ARN
	alarms   map[string][]string
	rules    map[string][]string
	discover bool
	// event is the invocation's event, as a queued announcement names it.
	event eventRef
	// required is REQUIRED_SERVICE_PRINCIPALS plus, for the Config rule, its
	// requiredServicePrincipals rule parameter.
	required []string
}

func (g *Guard) newSession(acct Account) *session {
	return &session{g: g, acct: acct, keys: map[string]*keyState{}, required: g.Settings.RequiredPrincipals}
}

// discovery builds the index of alarms and EventBridge rules naming topics,
// once per invocation.
func (s *session) discovery(ctx context.Context) error {
	if !s.g.Settings.DiscoverSources || s.discover {
		return nil
	}
	var err error
	if s.alarms, err = s.acct.AlarmTopics(ctx); err != nil {
		return s.g.fault("describe alarms", err)
	}
	if s.rules, err = s.acct.RuleTopics(ctx); err != nil {
		return s.g.fault("list EventBridge rules", err)
	}
	s.discover = true
	return nil
}

func (s *session) publishers(topicARN string) []rules.Publisher {
	var ps []rules.Publisher
	for _, a := range s.alarms[topicARN] {
		ps = append(ps, rules.Publisher{Principal: "cloudwatch.amazonaws.com", SourceARN: a})
	}
	for _, r := range s.rules[topicARN] {
		ps = append(ps, rules.Publisher{Principal: "events.amazonaws.com", SourceARN: r})
	}
	return ps
}

// loadTopic reads a topic; a topic that no longer exists is marked gone.
func (s *session) loadTopic(ctx context.Context, arn string) (*topicState, error) {
	ts := &topicState{arn: arn}
	t, err := s.acct.GetTopic(ctx, arn)
	if err != nil {
		if s.g.class(err) == ErrNotFound {
			ts.gone = true
			return ts, nil
		}
		return nil, s.g.fault(fmt.Sprintf("get topic attributes (%s)", arn), err)
	}
	if t.ARN == "" {
		t.ARN = arn
	}
	ts.topic = t
	if key := s.g.Settings.ExemptTagKey; key != "" {
		tags, err := s.acct.TopicTags(ctx, arn)
		if err != nil {
			return nil, s.g.fault(fmt.Sprintf("list topic tags (%s)", arn), err)
		}
		if _, ok := tags[key]; ok {
			ts.exempt = fmt.Sprintf("topic %s has the exemption tag %q", arn, key)
		}
		ts.topic.Tags = tags
	}
	return ts, nil
}

// loadKey describes a key and reads its policy, once per invocation.
func (s *session) loadKey(ctx context.Context, ref string) (*keyState, error) {
	if err := s.preloadKeys(ctx, []string{ref}); err != nil {
		return nil, err
	}
	return s.keys[ref], nil
}

// preloadKeys reads every key named in refs that is not read yet: one
// DescribeKey per distinct reference, then one GetKeyPolicy (and, only when
// needed, ListAliases / ListResourceTags) per distinct key, with bounded
// concurrency. Terminal errors become the key's ReadError (findings);
// retryable ones fail the invocation.
func (s *session) preloadKeys(ctx context.Context, refs []string) error {
	var todo []string
	seen := map[string]bool{}
	for _, r := range refs {
		if _, ok := s.keys[r]; !ok && r != "" && !seen[r] {
			seen[r] = true
			todo = append(todo, r)
		}
	}
	described := make([]rules.Key, len(todo))
	errs := make([]error, len(todo))
	if err := parallel(ctx, len(todo), func(i int) error {
		described[i], errs[i] = s.acct.DescribeKey(ctx, todo[i])
		return nil
	}); err != nil {
		return err
	}
	var details []*keyState
	for i, ref := range todo {
		ks := &keyState{ref: ref}
		if err := errs[i]; err != nil {
			if !s.readError(&ks.key, err) {
				return s.g.fault(fmt.Sprintf("describe key (%s)", ref), err)
			}
			ks.key.NamedAs = ref
			s.keys[ref] = ks
			continue
		}
		k := described[i]
		k.NamedAs = ref
		if prev, ok := s.keys[k.ARN]; ok && k.ARN != "" {
			s.keys[ref] = prev
			continue
		}
		ks.key = k
		s.keys[ref] = ks
		if k.ARN != "" {
			s.keys[k.ARN] = ks
		}
		if strings.EqualFold(k.Manager, "CUSTOMER") {
			details = append(details, ks)
		}
	}
	return parallel(ctx, len(details), func(i int) error { return s.readKeyDetails(ctx, details[i]) })
}

// readKeyDetails reads a customer-managed key's policy, and its aliases and
// tags only when a check needs them.
func (s *session) readKeyDetails(ctx context.Context, ks *keyState) error {
	arn := ks.key.ARN
	pol, err := s.acct.KeyPolicy(ctx, arn)
	if err != nil {
		if !s.readError(&ks.key, err) {
			return s.g.fault(fmt.Sprintf("get key policy (%s)", arn), err)
		}
	} else {
		setPolicy(&ks.key, pol)
		if strings.Contains(strings.ToLower(string(pol)), "kms:resourcealiases") {
			if ks.key.Aliases, err = s.acct.KeyAliases(ctx, arn); err != nil {
				return s.g.fault(fmt.Sprintf("list aliases (%s)", arn), err)
			}
		}
	}
	if tag := s.g.Settings.ExemptTagKey; tag != "" {
		tags, err := s.acct.KeyTags(ctx, arn)
		if err != nil && !s.readError(&ks.key, err) {
			return s.g.fault(fmt.Sprintf("list key tags (%s)", arn), err)
		}
		if _, ok := tags[tag]; ok {
			ks.exempt = fmt.Sprintf("key %s has the exemption tag %q", arn, tag)
		}
		ks.key.Tags = tags
	}
	return nil
}

// loadTopics reads topics with bounded concurrency, keeping their order.
func (s *session) loadTopics(ctx context.Context, arns []string) ([]*topicState, error) {
	out := make([]*topicState, len(arns))
	err := parallel(ctx, len(arns), func(i int) error {
		ts, err := s.loadTopic(ctx, arns[i])
		out[i] = ts
		return err
	})
	return out, err
}

// concurrency bounds parallel AWS reads: enough to hide latency, well inside
// the SDK's connection pool and the services' request quotas (the SDK's
// adaptive retry slows down on throttling).
const concurrency = 8

// parallel runs fn(0..n-1) on at most concurrency goroutines and returns the
// first error; after an error no new item starts.
func parallel(ctx context.Context, n int, fn func(i int) error) error {
	if n == 1 {
		return fn(0)
	}
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if first != nil || next >= n || ctx.Err() != nil {
			return 0, false
		}
		next++
		return next - 1, true
	}
	for w := 0; w < min(concurrency, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, ok := take()
				if !ok {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// readError records a terminal key read error; false when the error is not terminal.
func (s *session) readError(k *rules.Key, err error) bool {
	switch s.g.class(err) {
	case ErrNotFound:
		k.ReadError = rules.KeyReadNotFound
	case ErrAccessDenied:
		k.ReadError = rules.KeyReadAccessDenied
	case ErrOptIn:
		k.ReadError = rules.KeyReadOptIn
	default:
		return false
	}
	k.ReadDetail = err.Error()
	return true
}

func (s *session) input(ts *topicState, k *rules.Key) rules.Input {
	return rules.Input{
		Topic:      ts.topic,
		Key:        k,
		Discovered: s.publishers(ts.arn),
		Config: rules.Config{
			RequiredPrincipals: s.required,
			RemediationKeyID:   s.g.Settings.RemediationKeyID,
		},
	}
}

// judge evaluates every loaded topic.
func (s *session) judge(ts *topicState) {
	var k *rules.Key
	if ts.key != nil {
		k = &ts.key.key
	}
	ts.result = rules.Evaluate(s.input(ts, k))
	ts.eval = report.NewEvaluation(ts.arn, ts.result.Compliance)
	ts.eval.Findings = append(ts.eval.Findings, ts.result.Findings...)
	if ts.topic.KMSMasterKeyID != "" {
		est := cost.Monthly(ts.result.Publishers)
		ts.eval.KMSCost = &est
	}
}

// Evaluate runs the whole level-based cycle on topics already loaded (or
// marked gone/exempt) in one account, and returns their evaluations.
func (s *session) evaluate(ctx context.Context, topics []*topicState) ([]report.Evaluation, error) {
	if err := s.discovery(ctx); err != nil {
		return nil, err
	}
	var refs []string
	for _, ts := range topics {
		if !ts.gone && ts.exempt == "" && ts.topic.KMSMasterKeyID != "" {
			refs = append(refs, ts.topic.KMSMasterKeyID)
		}
	}
	if err := s.preloadKeys(ctx, refs); err != nil {
		return nil, err
	}
	var live []*topicState
	for _, ts := range topics {
		if ts.gone || ts.exempt != "" {
			continue
		}
		if ref := ts.topic.KMSMasterKeyID; ref != "" {
			ks, err := s.loadKey(ctx, ref)
			if err != nil {
				return nil, err
			}
			if ks.exempt != "" {
				ts.exempt = ks.exempt
				continue
			}
			ts.key = ks
			ks.topics = append(ks.topics, ts)
		}
		s.judge(ts)
		live = append(live, ts)
	}
	if err := s.planRepoints(ctx, live); err != nil {
		return nil, err
	}
	if err := s.fixKeys(ctx, live); err != nil {
		return nil, err
	}
	if err := s.repoint(ctx, live); err != nil {
		return nil, err
	}
	out := make([]report.Evaluation, 0, len(topics))
	for _, ts := range topics {
		switch {
		case ts.gone:
			e := report.NewEvaluation(ts.arn, rules.NotApplicable)
			e.Note = "the topic no longer exists"
			out = append(out, e)
		case ts.exempt != "":
			e := report.NewEvaluation(ts.arn, rules.NotApplicable)
			e.Note = "exempt: " + ts.exempt
			out = append(out, e)
		default:
			out = append(out, ts.eval)
		}
	}
	return out, nil
}

// planRepoints prepares moving topics without a usable customer-managed key
// to REMEDIATION_KEY_ID: that key's policy must first serve the topic, so
// the topic joins the remediation key's fix (one write per key).
func (s *session) planRepoints(ctx context.Context, live []*topicState) error {
	if s.g.Settings.RemediationKeyID == "" {
		return nil
	}
	for _, ts := range live {
		if !ts.result.Repoint {
			continue
		}
		rk, err := s.loadKey(ctx, s.g.Settings.RemediationKeyID)
		if err != nil {
			return err
		}
		moved := *ts
		moved.topic.KMSMasterKeyID = rk.key.ARN
		if moved.topic.KMSMasterKeyID == "" {
			moved.topic.KMSMasterKeyID = s.g.Settings.RemediationKeyID
		}
		res := rules.Evaluate(s.input(&moved, &rk.key))
		if blocking := unfixable(res.Findings); len(blocking) > 0 || rk.exempt != "" {
			ts.eval.Actions = append(ts.eval.Actions, report.Action{Type: report.ActionSetTopicKey, TopicARN: ts.arn,
				KeyARN: rk.key.ARN, Status: report.StatusSkipped,
				Detail: "REMEDIATION_KEY_ID cannot serve this topic: " + strings.Join(codes(blocking), ", ")})
			continue
		}
		ts.repointTo = rk
		rk.topics = append(rk.topics, &topicState{arn: ts.arn, topic: moved.topic, key: rk, result: res, eval: ts.eval})
	}
	return nil
}

func unfixable(fs []rules.Finding) []rules.Finding {
	var out []rules.Finding
	for _, f := range fs {
		if !f.Fixable {
			out = append(out, f)
		}
	}
	return out
}

func codes(fs []rules.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, string(f.Code))
	}
	return out
}

// fixKeys plans, and in remediate mode writes, one key-policy change per key
// covering every principal every affected topic needs.
func (s *session) fixKeys(ctx context.Context, live []*topicState) error {
	seen := map[*keyState]bool{}
	var keys []*keyState
	for _, ts := range live {
		for _, ks := range []*keyState{ts.key, ts.repointTo} {
			if ks != nil && !seen[ks] {
				seen[ks] = true
				keys = append(keys, ks)
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].key.ARN < keys[j].key.ARN })
	for _, ks := range keys {
		if err := s.fixKey(ctx, ks, live); err != nil {
			return err
		}
	}
	return nil
}

func grantsOf(topics []*topicState) []rules.Grant {
	var gs []rules.Grant
	for _, ts := range topics {
		gs = append(gs, ts.result.Grants...)
	}
	return rules.MergeGrants(gs)
}

// reporting returns the evaluations that report on a key's fix: each live
// topic on the key, and each topic being moved to it.
func reporting(ks *keyState, live []*topicState) []*topicState {
	var out []*topicState
	for _, ts := range live {
		if ts.key == ks && len(ts.result.Grants) > 0 || ts.repointTo == ks {
			out = append(out, ts)
		}
	}
	return out
}

func (s *session) fixKey(ctx context.Context, ks *keyState, live []*topicState) error {
	grants := grantsOf(ks.topics)
	if len(grants) == 0 {
		return nil
	}
	owners := reporting(ks, live)
	ch, err := plan.FixDoc(ks.key.Parsed, ks.key.Policy, grants)
	if errors.Is(err, plan.ErrTooLarge) {
		for _, ts := range owners {
			ts.eval.Findings = append(ts.eval.Findings, rules.Finding{Code: rules.PolicyTooLarge, KeyARN: ks.key.ARN,
				Message: fmt.Sprintf("the fix for key %s would make its policy larger than 32768 bytes; nothing was written", ks.key.ARN)})
			ts.eval.Compliance = rules.NonCompliant
			ts.eval.Actions = append(ts.eval.Actions, report.Action{Type: report.ActionPutKeyPolicy, KeyARN: ks.key.ARN, Status: report.StatusSkipped, Detail: err.Error()})
		}
		return nil
	}
	if err != nil {
		s.g.log().Error("plan key policy", "key", ks.key.ARN, "error", err)
		for _, ts := range owners {
			ts.eval.Actions = append(ts.eval.Actions, report.Action{Type: report.ActionPutKeyPolicy, KeyARN: ks.key.ARN, Status: report.StatusFailed, Detail: err.Error()})
		}
		return nil
	}
	if !ch.Changed {
		return nil
	}
	act := report.Action{Type: report.ActionPutKeyPolicy, KeyARN: ks.key.ARN, Status: report.StatusPlanned, Changes: ch.Summary,
		Before: ks.key.Policy, After: ch.Policy}
	oldHash := hash(ks.key.Policy)
	if s.g.Settings.Mode == ModeRemediate {
		act, err = s.writeKeyPolicy(ctx, ks, ch)
		if err != nil {
			return err
		}
	}
	s.g.log().Info("key policy fix", "key", ks.key.ARN, "status", act.Status, "changes", ch.Summary,
		"policyHash", oldHash, "newPolicyHash", hash(ch.Policy))
	for _, ts := range owners {
		ts.eval.Actions = append(ts.eval.Actions, act)
	}
	if act.Status == report.StatusApplied {
		// Re-judge on the written policy: compliance reports the state the topic is left in.
		for _, ts := range ks.topics {
			if ts.key == ks {
				ts.result = rules.Evaluate(s.input(ts, &ks.key))
			}
		}
		for _, ts := range owners {
			if ts.key == ks && ts.repointTo == nil {
				s.settle(ts)
			}
		}
	}
	return nil
}

// settle sets the compliance after a fix from a fresh judgement, keeping the
// findings that were found (and fixed) in the report.
func (s *session) settle(ts *topicState) {
	ts.eval.Compliance = ts.result.Compliance
	if ts.result.Compliance == rules.Compliant {
		ts.eval.Note = "fixed by the guard; findings show what was found"
	}
}

// writeKeyPolicy re-reads the policy, re-plans on top of any outside edit,
// writes once, reads back and confirms.
func (s *session) writeKeyPolicy(ctx context.Context, ks *keyState, ch plan.Change) (report.Action, error) {
	act := report.Action{Type: report.ActionPutKeyPolicy, KeyARN: ks.key.ARN, Changes: ch.Summary, Before: ks.key.Policy, After: ch.Policy}
	for attempt := 0; ; attempt++ {
		current, err := s.acct.KeyPolicy(ctx, ks.key.ARN)
		if err != nil {
			return act, s.g.fault(fmt.Sprintf("get key policy (%s)", ks.key.ARN), err)
		}
		same, err := policy.Equal(current, ks.key.Policy)
		if err != nil || !same {
			// Someone edited the policy since we read it: judge again on top of it.
			if attempt >= 3 {
				act.Status, act.Detail = report.StatusFailed, "the key policy kept changing while the fix was prepared"
				return act, nil
			}
			setPolicy(&ks.key, current)
			for _, ts := range ks.topics {
				ts.result = rules.Evaluate(s.input(ts, &ks.key))
			}
			grants := grantsOf(ks.topics)
			if len(grants) == 0 {
				act.Status, act.Detail = report.StatusSkipped, "the key policy was changed by someone else and needs no fix now"
				return act, nil
			}
			if ch, err = plan.FixDoc(ks.key.Parsed, current, grants); err != nil {
				act.Status, act.Detail = report.StatusFailed, err.Error()
				return act, nil
			}
			act.Changes, act.Before, act.After = ch.Summary, current, ch.Policy
			if !ch.Changed {
				act.Status, act.Detail = report.StatusSkipped, "the key policy was changed by someone else and needs no fix now"
				return act, nil
			}
			continue
		}
		putErr := s.acct.PutKeyPolicy(ctx, ks.key.ARN, ch.Policy)
		if putErr != nil && !s.ambiguous(putErr) {
			act.Status, act.Detail = report.StatusFailed, putErr.Error()
			return act, nil
		}
		back, err := s.acct.KeyPolicy(ctx, ks.key.ARN)
		if putErr != nil {
			// The write may have landed without its answer (a timeout, a
			// connection lost after sending): if the fix is in place it was
			// applied, and is reported and announced as such; else the
			// invocation fails and is retried.
			what := fmt.Sprintf("put key policy (%s)", ks.key.ARN)
			if err != nil {
				// Neither the write's answer nor the policy: the fix may be in
				// place, and a retry would find the key compliant. Announce
				// it as unconfirmed, with the id it has if it landed.
				id := AnnouncementID(ks.key.ARN, policyDigest(ks.key.Parsed, ks.key.Policy), policyDigest(nil, ch.Policy))
				return act, s.unconfirmed(ctx, id, ks.key.ARN, report.ActionPutKeyPolicy, ch.Summary, arnsOf(ks.topics), what, putErr, err)
			}
			if same, _ := policy.Equal(back, ch.Policy); !same {
				return act, s.g.fault(what, putErr)
			}
			s.g.log().Warn("put key policy failed, yet the fix is in place: it was applied", "key", ks.key.ARN, "error", putErr)
		} else if err != nil {
			// KMS answered that it took the write; only its confirmation
			// failed. The change is applied and is announced as such (a
			// failed invocation would leave a retry that finds the key
			// compliant and announces nothing).
			s.g.log().Warn("key policy written; reading it back failed", "key", ks.key.ARN, "error", err)
			back, act.Detail = ch.Policy, "written; reading it back failed: "+err.Error()
		}
		if same, err := policy.Equal(back, ch.Policy); err != nil || !same {
			act.Status, act.Detail = report.StatusFailed, "the key policy read back differs from the one written"
			return act, nil
		}
		act.ID = AnnouncementID(ks.key.ARN, policyDigest(ks.key.Parsed, ks.key.Policy), policyDigest(nil, back))
		setPolicy(&ks.key, back)
		act.Status = report.StatusApplied
		return act, nil
	}
}

// repoint moves topics to the remediation key once its policy serves them.
func (s *session) repoint(ctx context.Context, live []*topicState) error {
	for _, ts := range live {
		rk := ts.repointTo
		if rk == nil {
			continue
		}
		act := report.Action{Type: report.ActionSetTopicKey, TopicARN: ts.arn, KeyARN: rk.key.ARN, Status: report.StatusPlanned}
		if s.g.Settings.Mode == ModeRemediate {
			if failedFix(ts.eval.Actions) {
				act.Status, act.Detail = report.StatusSkipped, "the remediation key's policy could not be fixed first"
			} else if err := s.setTopicKey(ctx, ts, rk, &act); err != nil {
				return err
			}
		}
		s.g.log().Info("re-point topic", "topic", ts.arn, "key", rk.key.ARN, "status", act.Status)
		ts.eval.Actions = append(ts.eval.Actions, act)
	}
	return nil
}

// setTopicKey re-reads the topic (an outside change since it was judged wins:
// nothing is written), writes the new key, reads it back and confirms.
func (s *session) setTopicKey(ctx context.Context, ts *topicState, rk *keyState, act *report.Action) error {
	cur, err := s.acct.GetTopic(ctx, ts.arn)
	if err != nil {
		if s.g.class(err) == ErrNotFound {
			act.Status, act.Detail = report.StatusSkipped, "the topic was deleted before the fix"
			return nil
		}
		return s.g.fault(fmt.Sprintf("get topic attributes (%s)", ts.arn), err)
	}
	if cur.KMSMasterKeyID != ts.topic.KMSMasterKeyID {
		act.Status, act.Detail = report.StatusSkipped, "the topic's key was changed by someone else since it was evaluated"
		return nil
	}
	setErr := s.acct.SetTopicKey(ctx, ts.arn, rk.key.ARN)
	if setErr != nil && !s.ambiguous(setErr) {
		act.Status, act.Detail = report.StatusFailed, setErr.Error()
		return nil
	}
	back, err := s.acct.GetTopic(ctx, ts.arn)
	if setErr != nil {
		// As for a key policy: a write whose answer was lost counts if it landed.
		what := fmt.Sprintf("set topic attributes (%s)", ts.arn)
		if err != nil {
			id := AnnouncementID(ts.arn, ts.topic.KMSMasterKeyID, rk.key.ARN)
			return s.unconfirmed(ctx, id, ts.arn, report.ActionSetTopicKey, []string{"set KmsMasterKeyId to " + rk.key.ARN}, []string{ts.arn}, what, setErr, err)
		}
		if back.KMSMasterKeyID != rk.key.ARN {
			return s.g.fault(what, setErr)
		}
		s.g.log().Warn("set topic attributes failed, yet the new key is in place: it was applied", "topic", ts.arn, "error", setErr)
	} else if err != nil {
		// SNS took the write; only its confirmation failed (as for a key policy).
		s.g.log().Warn("topic key written; reading it back failed", "topic", ts.arn, "error", err)
		back.KMSMasterKeyID, act.Detail = rk.key.ARN, "written; reading it back failed: "+err.Error()
	}
	if back.KMSMasterKeyID != rk.key.ARN {
		act.Status, act.Detail = report.StatusFailed, "the topic's key read back differs from the one written"
		return nil
	}
	act.Status = report.StatusApplied
	act.ID = AnnouncementID(ts.arn, ts.topic.KMSMasterKeyID, rk.key.ARN)
	ts.topic.KMSMasterKeyID = rk.key.ARN
	ts.result = rules.Evaluate(s.input(ts, &rk.key))
	s.settle(ts)
	return nil
}

func failedFix(acts []report.Action) bool {
	for _, a := range acts {
		if a.Type == report.ActionPutKeyPolicy && a.Status != report.StatusApplied {
			return true
		}
	}
	return false
}

// ambiguous says whether a failed write may still have been applied: a
// retryable fault (throttling, 5xx, a timeout, a connection lost after the
// request was sent) gives no answer either way, so the guard reads back.
func (s *session) ambiguous(err error) bool {
	return s.g.class(err) == ErrRetryable || errors.Is(err, context.DeadlineExceeded)
}

// setPolicy records a key policy and its parse: the policy is parsed once
// per key and shared (read-only) by every topic judged on it.
func setPolicy(k *rules.Key, p []byte) {
	k.Policy = p
	k.Parsed = nil
	if doc, err := policy.Parse(p); err == nil {
		k.Parsed = doc
	}
}

func hash(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:6])
}
