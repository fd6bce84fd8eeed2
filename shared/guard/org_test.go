package guard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

const member = "222233334444"

// asMember rewrites an event of the fake's account as one from the member
// account (ids, ARNs and actor alike).
func asMember(b []byte) []byte {
	return []byte(strings.ReplaceAll(string(b), "111122223333", member))
}

// orgGuard wires a central and a member account: "" (or the central id)
// gives the central fake, the member id the member fake, any other account
// the error noRole.
func orgGuard(central, mem *fakeAccount, noRole error) (*Guard, *[]string) {
	var asked []string
	g := newGuard(central, ModeAlert, "cloudwatch.amazonaws.com")
	g.Account = func(_ context.Context, id, region string) (Account, error) {
		asked = append(asked, id+"/"+region)
		switch id {
		case "", "111122223333":
			return central, nil
		case member:
			return mem, nil
		}
		return nil, noRole
	}
	return g, &asked
}

// TestMemberEventAlertsCentrally: a member's finding is published to the
// central alert topic with the function's own account (a member role may
// not publish there), in the alert topic's region; its Security Hub findings
// are imported in the member account, whose id they carry.
func TestMemberEventAlertsCentrally(t *testing.T) {
	central, mem := newFake(), newFake()
	mem.account = member
	mem.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", strings.ReplaceAll(defaultPolicy, "111122223333", member), "alias/orders")
	arn := mem.addTopic("orders", "alias/orders", "")
	g, asked := orgGuard(central, mem, nil)
	g.Settings.SecurityHub = true
	g.Settings.AlertTopicARN = "arn:aws:sns:eu-west-1:111122223333:guard-alerts"
	rep, err := g.HandleTopicEvent(context.Background(), asMember(createTopic(t, "orders")))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Evaluations) != 1 || rep.Evaluations[0].ResourceID != arn || rep.Evaluations[0].Compliance != rules.NonCompliant {
		t.Fatalf("report %+v", rep)
	}
	if len(central.published) != 1 || central.published[0].topic != g.Settings.AlertTopicARN || len(mem.published) != 0 {
		t.Fatalf("alerts: central %d, member %d; want 1 central, 0 member", len(central.published), len(mem.published))
	}
	if len(mem.hub) == 0 || len(central.hub) != 0 {
		t.Fatalf("Security Hub findings: member %d, central %d; want them in the member account", len(mem.hub), len(central.hub))
	}
	if !slices.Contains(*asked, "/eu-west-1") || !slices.Contains(*asked, member+"/us-east-1") {
		t.Errorf("accounts asked %v: want the member in the topic's region and the own account in the alert topic's region", *asked)
	}
}

// TestMemberRoleMissing: an account where the member role cannot be assumed
// gets a NOT_APPLICABLE saying so (Config) or a skip (EventBridge), never an
// invocation error that would be retried without end; other failures still
// fail the invocation.
func TestMemberRoleMissing(t *testing.T) {
	central, mem := newFake(), newFake()
	missing := &fakeRoleError{"arn:aws:iam::333344445555:role/snskeyguard-member"}
	g, _ := orgGuard(central, mem, fmt.Errorf("account: %w", missing))
	other := func(b []byte) []byte { return []byte(strings.ReplaceAll(string(b), "111122223333", "333344445555")) }

	rep, err := g.HandleConfigEvent(context.Background(), other(configSweep("token")))
	if err != nil {
		t.Fatalf("sweep in an account without the role: invocation error %v", err)
	}
	if len(rep.Evaluations) != 1 {
		t.Fatalf("report %+v", rep)
	}
	e := rep.Evaluations[0]
	if e.Compliance != rules.NotApplicable || e.ResourceType != "AWS::::Account" || e.ResourceID != "333344445555" ||
		!strings.Contains(e.Note, "member role missing") || !strings.Contains(e.Note, missing.role) {
		t.Errorf("evaluation %+v, want NOT_APPLICABLE for the account saying the member role is missing", e)
	}
	if len(central.evaluations) != 0 || len(mem.evaluations) != 0 {
		t.Errorf("evaluations written with another account's credentials")
	}

	rep, err = g.HandleTopicEvent(context.Background(), other(createTopic(t, "orders")))
	if err != nil || !strings.Contains(rep.Skipped, "member role missing") || len(rep.Evaluations) != 0 {
		t.Errorf("topic event: %+v %v, want a skip naming the missing role", rep, err)
	}

	g, _ = orgGuard(central, mem, errors.New("assume role: connection reset"))
	if _, err := g.HandleTopicEvent(context.Background(), other(createTopic(t, "orders"))); err == nil {
		t.Errorf("a fault while assuming the role must fail the invocation")
	}
}

type fakeRoleError struct{ role string }

func (e *fakeRoleError) Error() string         { return "the member role " + e.role + " cannot be assumed" }
func (e *fakeRoleError) RoleUnavailable() bool { return true }

// recorder wraps a fake and records which Account methods were called.
type recorder struct {
	*fakeAccount
	used map[string]bool
}

var opMethods = map[string]string{
	"GetTopicAttributes": "GetTopic", "ListTagsForResource": "TopicTags", "ListTopics": "ListTopics",
	"SetTopicAttributes": "SetTopicKey", "DescribeKey": "DescribeKey", "GetKeyPolicy": "KeyPolicy",
	"PutKeyPolicy": "PutKeyPolicy", "ListAliases": "KeyAliases", "ListResourceTags": "KeyTags",
	"DescribeAlarms": "AlarmTopics", "ListRules": "RuleTopics", "Publish": "Publish",
	"PutEvaluations": "PutEvaluations", "BatchImportFindings": "ImportFindings", "SendMessage": "Enqueue",
}

func (r recorder) SelectTopicsByKey(context.Context, string, []string) ([]string, error) {
	r.used["SelectTopicsByKey"] = true
	return nil, nil
}

// TestHandlersCallOnlyWhatTheyNeed runs every entry point over settings that
// turn each optional path on and off, and checks that each called only
// Account methods Settings.Needs lists for it (in the event's account, and
// centrally): the template grants exactly those, so a call outside them
// would be denied in AWS.
func TestHandlersCallOnlyWhatTheyNeed(t *testing.T) {
	for _, mode := range []string{ModeAlert, ModeRemediate} {
		for _, hub := range []bool{false, true} {
			for _, discover := range []bool{false, true} {
				for _, exempt := range []string{"", "guard:exempt"} {
					for _, rk := range []string{"", "alias/remediation"} {
						central, mem := newFake(), newFake()
						mem.account = member
						pol := strings.ReplaceAll(defaultPolicy, "111122223333", member)
						mem.addKey("1234abcd-12ab-34cd-56ef-1234567890ab", pol, "alias/orders")
						mem.addKey("99999999-12ab-34cd-56ef-1234567890ab", pol, "alias/remediation")
						mem.addTopic("orders", "alias/orders", "")
						mem.addTopic("plain", "", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"sns:Publish","Resource":"*"}]}`)
						mem.alarms[mem.topicARN("orders")] = []string{"arn:aws:cloudwatch:us-east-1:" + member + ":alarm:a"}
						rc, rm := recorder{central, map[string]bool{}}, recorder{mem, map[string]bool{}}
						g, _ := orgGuard(central, mem, nil)
						g.Account = func(_ context.Context, id, _ string) (Account, error) {
							if id == member {
								return rm, nil
							}
							return rc, nil
						}
						g.Settings.Mode, g.Settings.SecurityHub, g.Settings.DiscoverSources = mode, hub, discover
						g.Settings.ExemptTagKey, g.Settings.RemediationKeyID = exempt, rk
						cfg := fmt.Sprintf("mode=%s hub=%v discover=%v exempt=%q key=%q", mode, hub, discover, exempt, rk)
						for _, c := range []struct {
							entry string
							run   func() error
						}{
							{EntryTopicGuard, func() error {
								_, err := g.HandleTopicEvent(context.Background(), asMember(createTopic(t, "plain")))
								if err == nil {
									_, err = g.HandleTopicEvent(context.Background(), asMember(createTopic(t, "orders")))
								}
								return err
							}},
							{EntryKeyGuard, func() error {
								_, err := g.HandleKeyEvent(context.Background(), asMember(cloudTrail(t, "aws.kms", "PutKeyPolicy", adminRole,
									map[string]any{"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "policyName": "default"})))
								return err
							}},
							{EntryConfigRule, func() error {
								_, err := g.HandleConfigEvent(context.Background(), asMember(configSweep("token")))
								return err
							}},
						} {
							for _, r := range []recorder{rc, rm} {
								clear(r.used)
								clear(r.calls)
							}
							if err := c.run(); err != nil {
								t.Fatalf("%s %s: %v", c.entry, cfg, err)
							}
							in, cen := g.Settings.Needs(c.entry)
							check := func(where string, r recorder, allowed []string) {
								for op := range r.calls {
									r.used[opMethods[op]] = true
								}
								for m := range r.used {
									if !slices.Contains(allowed, m) {
										t.Errorf("%s %s: called %s %s, which Needs does not list %v", c.entry, cfg, where, m, allowed)
									}
								}
							}
							check("in the member account", rm, in)
							check("centrally", rc, cen)
						}
					}
				}
			}
		}
	}
	// Needs must not be vacuous: the scenarios above reach the optional paths.
	s := Settings{Mode: ModeRemediate, SecurityHub: true, DiscoverSources: true, ExemptTagKey: "x", RemediationKeyID: "k", AlertTopicARN: "arn:aws:sns:us-east-1:1:a"}
	in, cen := s.Needs(EntryConfigRule)
	for _, m := range []string{"PutKeyPolicy", "SetTopicKey", "ImportFindings", "AlarmTopics", "RuleTopics", "TopicTags", "KeyTags", "PutEvaluations", "ListTopics"} {
		if !slices.Contains(in, m) {
			t.Errorf("Needs(config-rule) lacks %s: %v", m, in)
		}
	}
	if !slices.Equal(cen, []string{"Publish", "InvokeAsync"}) || slices.Contains(in, "Publish") || slices.Contains(in, "InvokeAsync") {
		t.Errorf("alerts and the sweep's continuation must be central only: in %v, central %v", in, cen)
	}
	// A remediating guard with a queue queues, centrally, what the alert
	// topic did not take; an alerting one never does (it applies nothing).
	s.AnnounceQueueURL = "https://sqs.us-east-1.amazonaws.com/1/q"
	for _, e := range []string{EntryTopicGuard, EntryKeyGuard, EntryConfigRule} {
		in, cen := s.Needs(e)
		if !slices.Contains(cen, "Enqueue") || slices.Contains(in, "Enqueue") {
			t.Errorf("%s with a queue: in %v, central %v; want Enqueue central only", e, in, cen)
		}
		alerting := s
		alerting.Mode = ModeAlert
		if _, cen := alerting.Needs(e); slices.Contains(cen, "Enqueue") {
			t.Errorf("%s in alert mode needs Enqueue: %v", e, cen)
		}
	}
	if _, cen := s.Needs(EntryTopicGuard); slices.Contains(cen, "InvokeAsync") {
		t.Errorf("only the Config rule continues a sweep: topic-guard central %v", cen)
	}
	if in, _ := (Settings{Mode: ModeAlert}).Needs(EntryTopicGuard); slices.ContainsFunc(in, func(m string) bool {
		return m == "PutKeyPolicy" || m == "SetTopicKey" || m == "ImportFindings" || m == "ListTopics"
	}) {
		t.Errorf("topic-guard in alert mode needs %v", in)
	}
}
