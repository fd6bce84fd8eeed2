package guard

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/configrule"
	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/rules"
	"github.com/snskeyguard/snskeyguard/shared/trigger"
)

// HandleTopicEvent is topic-guard: CloudTrail CreateTopic / SetTopicAttributes via EventBridge.
func (g *Guard) HandleTopicEvent(ctx context.Context, raw []byte) (report.Report, error) {
	req, err := trigger.DecodeCloudTrail(raw)
	if err != nil {
		return report.Report{}, err
	}
	if req.Skip == "" && req.Kind != trigger.TopicChange {
		req.Skip = fmt.Sprintf("topic-guard does not handle %s %s events", req.Source, req.EventName)
	}
	acct, rep, done, err := g.begin(ctx, req)
	if done || err != nil {
		return rep, err
	}
	s := g.newSession(acct)
	s.event = eventOf(req)
	ts, err := s.loadTopic(ctx, req.TopicARN)
	if err != nil {
		return report.Report{}, err
	}
	return g.finish(ctx, s, rep, []*topicState{ts})
}

// HandleKeyEvent is key-guard: PutKeyPolicy, key state and alias changes.
// Every topic that uses the key is judged, and the key is fixed in one write.
func (g *Guard) HandleKeyEvent(ctx context.Context, raw []byte) (report.Report, error) {
	req, err := trigger.DecodeCloudTrail(raw)
	if err != nil {
		return report.Report{}, err
	}
	if req.Skip == "" && req.Kind != trigger.KeyChange {
		req.Skip = fmt.Sprintf("key-guard does not handle %s %s events", req.Source, req.EventName)
	}
	acct, rep, done, err := g.begin(ctx, req)
	if done || err != nil {
		return rep, err
	}
	s := g.newSession(acct)
	s.event = eventOf(req)
	target, err := s.loadKey(ctx, req.KeyID)
	if err != nil {
		return report.Report{}, err
	}
	arns, err := g.topicsOfKey(ctx, acct, target.key)
	if err != nil {
		return report.Report{}, err
	}
	all, err := s.loadTopics(ctx, arns)
	if err != nil {
		return report.Report{}, err
	}
	var refs []string
	for _, ts := range all {
		if !ts.gone && ts.topic.KMSMasterKeyID != "" {
			refs = append(refs, ts.topic.KMSMasterKeyID)
		}
	}
	if err := s.preloadKeys(ctx, refs); err != nil {
		return report.Report{}, err
	}
	var mine []*topicState
	for _, ts := range all {
		if ts.gone || ts.topic.KMSMasterKeyID == "" {
			continue
		}
		ks := s.keys[ts.topic.KMSMasterKeyID]
		if ks == target || (ks.key.ARN != "" && ks.key.ARN == target.key.ARN) {
			mine = append(mine, ts)
		}
	}
	if target.exempt != "" {
		rep.Skipped = "exempt resource: " + target.exempt
		return rep, nil
	}
	keyActs, err := s.reconcileEdit(ctx, target, req, mine)
	if err != nil {
		return report.Report{}, err
	}
	rep, err = g.finish(ctx, s, rep, mine)
	rep.KeyActions = keyActs
	if err == nil {
		rep.Summarize(report.MaxEvaluations)
	}
	return rep, err
}

// HandleConfigEvent is the AWS Config custom rule for AWS::SNS::Topic.
func (g *Guard) HandleConfigEvent(ctx context.Context, raw []byte) (report.Report, error) {
	req, err := trigger.DecodeConfig(raw)
	if err != nil {
		return report.Report{}, err
	}
	if req.Skip == "" && req.Kind != trigger.ConfigChange && req.Kind != trigger.ConfigSweep {
		req.Skip = fmt.Sprintf("config-rule does not handle %s %s events", req.Source, req.EventName)
	}
	acct, rep, done, err := g.begin(ctx, req)
	if done || err != nil {
		return rep, err
	}
	cfg := req.Config
	s := g.newSession(acct)
	s.event = eventOf(req)
	if v := ruleParam(cfg.RuleParameters, "requiredServicePrincipals"); v != "" {
		extra, err := parsePrincipals(v)
		if err != nil {
			return report.Report{}, fmt.Errorf("rule parameter requiredServicePrincipals: %w", err)
		}
		for _, p := range extra {
			s.required = appendUnique(append([]string(nil), s.required...), p)
		}
	}
	var topics []*topicState
	switch {
	case req.Kind == trigger.ConfigChange && (cfg.Deleted || cfg.EventLeftScope):
		e := report.NewEvaluation(req.TopicARN, rules.NotApplicable)
		e.Note = "the topic was deleted"
		if cfg.EventLeftScope {
			e.Note = "the topic left the rule's scope"
		}
		rep.Evaluations = append(rep.Evaluations, e)
		return rep, g.putEvaluations(ctx, acct, req, rep.Evaluations)
	case req.Kind == trigger.ConfigChange:
		ts, err := s.loadTopic(ctx, req.TopicARN)
		if err != nil {
			return report.Report{}, err
		}
		topics = append(topics, ts)
	default:
		return g.sweep(ctx, s, acct, req, raw, rep)
	}
	return g.evaluateAndReport(ctx, s, acct, req, rep, topics)
}

// evaluateAndReport judges (and fixes) the loaded topics, sends their
// evaluations to AWS Config and summarises the report: the end of every
// Config rule invocation.
func (g *Guard) evaluateAndReport(ctx context.Context, s *session, acct Account, req trigger.Request, rep report.Report, topics []*topicState) (report.Report, error) {
	rep, err := g.finish(ctx, s, rep, topics)
	if err != nil {
		return rep, err
	}
	if err := g.putEvaluations(ctx, acct, req, rep.Evaluations); err != nil {
		return report.Report{}, err
	}
	rep.Summarize(report.MaxEvaluations)
	return rep, nil
}

// begin handles what every entry point does first: skips, self-recognition,
// and choosing the account to act in.
func (g *Guard) begin(ctx context.Context, req trigger.Request) (Account, report.Report, bool, error) {
	rep := report.New(g.Settings.Mode)
	if req.Skip != "" {
		g.log().Info("skip event", "event", req.EventName, "reason", req.Skip)
		rep.Skipped = req.Skip
		return nil, rep, true, nil
	}
	if req.Actor != "" && g.Identity != nil {
		_, role, err := g.Identity(ctx)
		if err != nil {
			return nil, rep, true, g.fault("get caller identity", err)
		}
		self := role != "" && req.IsSelf(role)
		if name := g.Settings.CrossAccountRoleName; name != "" && !self {
			// In member accounts the guard acts through the cross-account role.
			self = req.IsSelf(fmt.Sprintf("arn:%s:iam::%s:role/%s", partitionOr(req.Partition), req.Account, name))
		}
		if self {
			rep.Skipped = "the guard's own change (" + req.Actor + ")"
			g.log().Info("skip event", "event", req.EventName, "reason", rep.Skipped)
			return nil, rep, true, nil
		}
	}
	acct, err := g.Account(ctx, req.Account, req.Region)
	if err != nil {
		var ru roleUnavailable
		if errors.As(err, &ru) && ru.RoleUnavailable() {
			return nil, g.roleMissing(req, rep, err), true, nil
		}
		return nil, rep, true, g.fault("account "+req.Account, err)
	}
	return acct, rep, false, nil
}

// roleUnavailable is how the edge marks an account where
// CROSS_ACCOUNT_ROLE_NAME cannot be assumed (shared/awsedge RoleUnavailableError).
type roleUnavailable interface{ RoleUnavailable() bool }

// roleMissing reports an event from an account the guard cannot act in: the
// organization's Config rule also runs in accounts the StackSet does not
// reach (the management account, accounts outside the chosen OUs). Retrying
// cannot help, so the invocation succeeds with a NOT_APPLICABLE evaluation
// (Config events) or a skip saying so, and an error log line to alarm on.
// Nothing can be written to that account's Config either: PutEvaluations
// must be called in the rule's account, through the very role that is
// missing. Exclude such accounts with the template's ExcludedAccounts.
func (g *Guard) roleMissing(req trigger.Request, rep report.Report, err error) report.Report {
	reason := fmt.Sprintf("member role missing: %v", err)
	g.log().Error("cannot act in the event's account", "account", req.Account, "event", req.EventName, "error", err)
	rep.Skipped = reason
	if req.Config != nil {
		id, typ := req.TopicARN, report.ResourceTypeTopic
		if id == "" {
			id, typ = req.Account, "AWS::::Account"
		}
		e := report.NewEvaluation(id, rules.NotApplicable)
		e.ResourceType = typ
		e.Note = reason
		rep.Evaluations = append(rep.Evaluations, e)
	}
	return rep
}

func (g *Guard) finish(ctx context.Context, s *session, rep report.Report, topics []*topicState) (report.Report, error) {
	evals, err := s.evaluate(ctx, topics)
	if err != nil {
		return report.Report{}, err
	}
	if evals, err = s.alerts(ctx, evals); err != nil {
		return report.Report{}, err
	}
	rep.Evaluations = evals
	if len(topics) == 1 && topics[0].exempt != "" {
		rep.Skipped = "exempt resource: " + topics[0].exempt
	}
	for _, e := range evals {
		g.log().Info("evaluation", "topic", e.ResourceID, "compliance", e.Compliance, "codes", codes(e.Findings), "actions", actionSummary(e.Actions))
	}
	return rep, nil
}

func actionSummary(acts []report.Action) []string {
	var out []string
	for _, a := range acts {
		out = append(out, a.Type+":"+a.Status)
	}
	return out
}

// putEvaluations reports to AWS Config in batches of at most 100, unless the
// result token is TESTMODE (sam local invoke) or the mode writes nothing.
func (g *Guard) putEvaluations(ctx context.Context, acct Outputs, req trigger.Request, evals []report.Evaluation) error {
	cfg := req.Config
	if cfg == nil || cfg.TestMode || cfg.ResultToken == "" {
		return nil
	}
	ts := cfg.OrderingTimestamp
	if ts.IsZero() {
		ts = g.now()
	}
	var all []configrule.Evaluation
	for _, e := range evals {
		ann := configrule.Annotation(uniqueCodes(e.Findings))
		if e.Compliance == rules.NotApplicable {
			ann = configrule.Annotation(nil)
			if e.Note != "" {
				ann = truncate(e.Note, 256)
			}
		}
		all = append(all, configrule.Evaluation{ResourceType: e.ResourceType, ResourceID: e.ResourceID,
			Compliance: e.Compliance, Annotation: ann, OrderingTimestamp: ts})
	}
	for _, batch := range configrule.Batches(all) {
		if err := acct.PutEvaluations(ctx, cfg.ResultToken, batch); err != nil {
			return g.fault("put evaluations", err)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n-3], "") + "..."
}

// ruleParam looks a Config rule parameter up without regard to case.
func ruleParam(params map[string]string, name string) string {
	for k, v := range params {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func partitionOr(p string) string {
	if p == "" {
		return "aws"
	}
	return p
}

// topicsOfKey lists the topics that may use a key: one AWS Config advanced
// query when the account's Config answers it, else every topic. An empty
// answer also falls back to the listing: a recorder that does not record
// topics answers empty, and missing a topic is worse than reading them all.
// Either way each candidate is re-read and kept only if it names the key.
func (g *Guard) topicsOfKey(ctx context.Context, acct Topics, key rules.Key) ([]string, error) {
	if sel, ok := acct.(Selector); ok {
		arns, ok, err := selectTopicsByKey(ctx, sel, key)
		if err != nil {
			if g.class(err) == ErrRetryable {
				return nil, g.fault("select topics by key", err)
			}
			g.log().Warn("Config query for the key's topics failed; listing every topic", "key", key.ARN, "error", err)
		} else if ok && len(arns) > 0 {
			return arns, nil
		}
	}
	arns, err := acct.ListTopics(ctx)
	if err != nil {
		return nil, g.fault("list topics", err)
	}
	return arns, nil
}
