package awsedge

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
)

// targetWorkers bounds concurrent ListTargetsByRule calls: enough to hide
// latency, far below EventBridge's request quota.
const targetWorkers = 8

// isTopicARN reports whether an action or target ARN names an SNS topic.
func isTopicARN(s string) bool {
	parts := strings.SplitN(s, ":", 6)
	return len(parts) == 6 && parts[0] == "arn" && parts[2] == "sns" && parts[5] != ""
}

// index maps topic ARN -> source ARNs, sorted and without duplicates.
type index map[string][]string

func (ix index) add(topic, source string) {
	if !slices.Contains(ix[topic], source) {
		ix[topic] = append(ix[topic], source)
	}
}

func (ix index) sorted() map[string][]string {
	for _, v := range ix {
		slices.Sort(v)
	}
	return ix
}

// AlarmTopics maps each topic named in a CloudWatch alarm action (alarm, OK
// or insufficient-data; metric and composite alarms) to the alarms' ARNs.
// One listing of all alarms, so a sweep builds it once, not per topic.
func (a *Account) AlarmTopics(ctx context.Context) (map[string][]string, error) {
	ix := index{}
	p := cloudwatch.NewDescribeAlarmsPaginator(a.cloudwatch, &cloudwatch.DescribeAlarmsInput{
		AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm},
		MaxRecords: aws.Int32(100),
	}, func(o *cloudwatch.DescribeAlarmsPaginatorOptions) { o.StopOnDuplicateToken = true })
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe alarms: %w", err)
		}
		addActions := func(alarm string, lists ...[]string) {
			for _, l := range lists {
				for _, act := range l {
					if isTopicARN(act) {
						ix.add(act, alarm)
					}
				}
			}
		}
		for _, m := range page.MetricAlarms {
			addActions(aws.ToString(m.AlarmArn), m.AlarmActions, m.OKActions, m.InsufficientDataActions)
		}
		for _, c := range page.CompositeAlarms {
			addActions(aws.ToString(c.AlarmArn), c.AlarmActions, c.OKActions, c.InsufficientDataActions)
		}
	}
	return ix.sorted(), nil
}

type busRule struct{ bus, name, arn string }

// RuleTopics maps each topic that an EventBridge rule targets to the rules'
// ARNs, over every event bus of the account: ListEventBuses, ListRules per
// bus, then one ListTargetsByRule per rule (bounded concurrency).
func (a *Account) RuleTopics(ctx context.Context) (map[string][]string, error) {
	buses, err := a.eventBuses(ctx)
	if err != nil {
		return nil, err
	}
	var rules []busRule
	for _, bus := range buses {
		var token *string
		seen := map[string]bool{}
		for {
			out, err := a.eventbridge.ListRules(ctx, &eventbridge.ListRulesInput{EventBusName: aws.String(bus), NextToken: token, Limit: aws.Int32(100)})
			if err != nil {
				return nil, fmt.Errorf("list rules (%s): %w", bus, err)
			}
			for _, r := range out.Rules {
				rules = append(rules, busRule{bus: bus, name: aws.ToString(r.Name), arn: aws.ToString(r.Arn)})
			}
			token = out.NextToken
			if token == nil || *token == "" || seen[*token] {
				break
			}
			seen[*token] = true
		}
	}

	ix := index{}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, targetWorkers)
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, r := range rules {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			topics, err := a.ruleTargets(ctx, r)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				return
			}
			for _, t := range topics {
				ix.add(t, r.arn)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return ix.sorted(), nil
}

func (a *Account) eventBuses(ctx context.Context) ([]string, error) {
	var buses []string
	var token *string
	seen := map[string]bool{}
	for {
		out, err := a.eventbridge.ListEventBuses(ctx, &eventbridge.ListEventBusesInput{NextToken: token, Limit: aws.Int32(100)})
		if err != nil {
			return nil, fmt.Errorf("list event buses: %w", err)
		}
		for _, b := range out.EventBuses {
			buses = append(buses, aws.ToString(b.Name))
		}
		token = out.NextToken
		if token == nil || *token == "" || seen[*token] {
			break
		}
		seen[*token] = true
	}
	if !slices.Contains(buses, "default") {
		buses = append([]string{"default"}, buses...)
	}
	return buses, nil
}

func (a *Account) ruleTargets(ctx context.Context, r busRule) ([]string, error) {
	var topics []string
	var token *string
	seen := map[string]bool{}
	for {
		out, err := a.eventbridge.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{
			Rule: aws.String(r.name), EventBusName: aws.String(r.bus), NextToken: token, Limit: aws.Int32(100),
		})
		if err != nil {
			return nil, fmt.Errorf("list targets by rule (%s): %w", r.arn, err)
		}
		for _, t := range out.Targets {
			if arn := aws.ToString(t.Arn); isTopicARN(arn) {
				topics = append(topics, arn)
			}
		}
		token = out.NextToken
		if token == nil || *token == "" || seen[*token] {
			break
		}
		seen[*token] = true
	}
	return topics, nil
}
