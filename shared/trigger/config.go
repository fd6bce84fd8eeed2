package trigger

import (
	"fmt"
	"strings"
	"time"
)

// Config message types a custom rule receives.
const (
	msgChange    = "ConfigurationItemChangeNotification"
	msgOversized = "OversizedConfigurationItemChangeNotification"
	msgScheduled = "ScheduledNotification"
)

// ResourceTypeTopic is the only Config resource type the guard judges.
const ResourceTypeTopic = "AWS::SNS::Topic"

// TestModeToken is the result token `sam local invoke` users pass: the
// function must then not call PutEvaluations.
const TestModeToken = "TESTMODE"

// DecodeConfig decodes an AWS Config custom-rule event. Its invokingEvent
// and ruleParameters are JSON documents inside strings.
func DecodeConfig(raw []byte) (Request, error) {
	top, err := parseTop(raw, "event")
	if err != nil {
		return Request{}, err
	}
	ci := &ConfigInfo{}
	r := Request{Source: "aws.config", Config: ci}
	invoking, err := top.need("invokingEvent")
	if err != nil {
		return Request{}, err
	}
	if ci.ResultToken, err = top.need("resultToken"); err != nil {
		return Request{}, err
	}
	ci.TestMode = ci.ResultToken == TestModeToken
	if ci.EventLeftScope, err = top.boolean("eventLeftScope"); err != nil {
		return Request{}, err
	}
	if ci.RuleName, err = top.str("configRuleName"); err != nil {
		return Request{}, err
	}
	if ci.RuleARN, err = top.str("configRuleArn"); err != nil {
		return Request{}, err
	}
	eventAccount, err := top.str("accountId")
	if err != nil {
		return Request{}, err
	}
	params, err := top.str("ruleParameters")
	if err != nil {
		return Request{}, err
	}
	if ci.RuleParameters, err = ruleParameters(params); err != nil {
		return Request{}, err
	}
	var rule arn
	if ci.RuleARN != "" {
		if rule, err = parseARN(ci.RuleARN); err != nil || rule.Service != "config" || rule.Region == "" || rule.Account == "" {
			return Request{}, malformed("event.configRuleArn %s is not a Config rule ARN", clip(ci.RuleARN))
		}
	}
	inv, err := parseTop([]byte(invoking), "invokingEvent")
	if err != nil {
		return Request{}, err
	}
	if r.EventName, err = inv.need("messageType"); err != nil {
		return Request{}, err
	}
	var item object
	switch r.EventName {
	case msgScheduled:
		return decodeSweep(r, inv, rule, eventAccount)
	case msgChange:
		item, err = needObject(inv, "configurationItem")
	case msgOversized:
		ci.Oversized = true
		item, err = needObject(inv, "configurationItemSummary")
	default:
		r.Skip = fmt.Sprintf("Config message %s is not handled", cut(r.EventName))
		return r, nil
	}
	if err != nil {
		return Request{}, err
	}
	return decodeItem(r, item)
}

func needObject(o object, key string) (object, error) {
	v, ok, err := o.obj(key)
	if err == nil && !ok {
		err = malformed("missing %s", o.at(key))
	}
	return v, err
}

// ruleParameters decodes the rule's parameters: a JSON object of strings
// (Config keeps every parameter value as a string).
func ruleParameters(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	o, err := parseTop([]byte(s), "ruleParameters")
	if err != nil {
		return nil, err
	}
	if len(o.m) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(o.m))
	for k := range o.m {
		if m[k], err = o.str(k); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func decodeSweep(r Request, inv object, rule arn, eventAccount string) (Request, error) {
	r.Kind = ConfigSweep
	account, err := inv.str("awsAccountId")
	if err != nil {
		return Request{}, err
	}
	for _, a := range []string{eventAccount, rule.Account} {
		if account == "" {
			account = a
		}
	}
	if !validAccount(account) {
		return Request{}, malformed("invokingEvent.awsAccountId %s is not 12 digits", clip(account))
	}
	// The rule's ARN says where the sweep runs; without it the function's
	// own region applies, which the caller knows and this package does not.
	r.Account, r.Region, r.Partition = account, rule.Region, rule.Partition
	if r.Config.OrderingTimestamp, err = timestamp(inv, "notificationCreationTime", false); err != nil {
		return Request{}, err
	}
	return r, nil
}

func decodeItem(r Request, item object) (Request, error) {
	r.Kind = ConfigChange
	ci := r.Config
	var err error
	var region, account, itemARN, status string
	for _, f := range []struct {
		key string
		dst *string
	}{{"resourceType", &ci.ResourceType}, {"resourceId", &ci.ResourceID}, {"resourceName", &ci.ResourceName},
		{"ARN", &itemARN}, {"awsRegion", &region}, {"awsAccountId", &account}, {"configurationItemStatus", &status}} {
		if *f.dst, err = item.str(f.key); err != nil {
			return Request{}, err
		}
	}
	if ci.ResourceType == "" {
		return Request{}, malformed("missing %s", item.at("resourceType"))
	}
	if ci.OrderingTimestamp, err = timestamp(item, "configurationItemCaptureTime", true); err != nil {
		return Request{}, err
	}
	ci.Deleted = status == "ResourceDeleted" || status == "ResourceDeletedNotRecorded"
	if ci.ResourceType != ResourceTypeTopic {
		r.Skip = fmt.Sprintf("resource type %s is not checked", cut(ci.ResourceType))
		return r, nil
	}
	// For a topic Config's resourceId is its ARN; older items or hand-made
	// events may carry only the ARN field or only the name.
	topic := ci.ResourceID
	if !strings.HasPrefix(topic, "arn:") {
		topic = itemARN
	}
	if topic == "" {
		name := ci.ResourceName
		if name == "" {
			name = ci.ResourceID
		}
		if name == "" {
			return Request{}, malformed("missing topic identity: no resourceId, ARN or resourceName in %s", item.path)
		}
		if err := checkTopicName(name); err != nil {
			return Request{}, malformed("%s: %v", item.at("resourceName"), err)
		}
		if !validAccount(account) {
			return Request{}, malformed("%s %s is not 12 digits", item.at("awsAccountId"), clip(account))
		}
		part, err := partitionOf(region)
		if err != nil {
			return Request{}, malformed("%s: %v", item.at("awsRegion"), err)
		}
		topic = arn{part, "sns", region, account, name}.String()
	}
	a, err := parseTopicARN(topic)
	if err != nil {
		return Request{}, malformed("%s: %v", item.at("resourceId"), err)
	}
	if (region != "" && region != a.Region) || (account != "" && account != a.Account) ||
		(ci.ResourceName != "" && ci.ResourceName != a.Resource) || (itemARN != "" && itemARN != topic) {
		return Request{}, malformed("%s: awsRegion, awsAccountId, resourceName and ARN disagree with topic %s", item.path, a)
	}
	if ci.ResourceID == "" {
		ci.ResourceID = topic
	}
	r.TopicARN, r.Account, r.Region, r.Partition = topic, a.Account, a.Region, a.Partition
	return r, nil
}

// timestamp reads an RFC 3339 time field.
func timestamp(o object, key string, required bool) (time.Time, error) {
	s, err := o.str(key)
	if err != nil {
		return time.Time{}, err
	}
	if s == "" {
		if required {
			return time.Time{}, malformed("missing %s", o.at(key))
		}
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, malformed("%s %s is not an RFC 3339 time", o.at(key), clip(s))
	}
	return t, nil
}
