package trigger

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

const detailTypeCloudTrail = "AWS API Call via CloudTrail"

// handled lists, per EventBridge source, the CloudTrail calls the guard acts on.
var handled = map[string]map[string]bool{
	"aws.sns": {"CreateTopic": true, "SetTopicAttributes": true},
	"aws.kms": {
		"PutKeyPolicy": true, "DisableKey": true, "EnableKey": true,
		"ScheduleKeyDeletion": true, "CancelKeyDeletion": true,
		"CreateAlias": true, "DeleteAlias": true, "UpdateAlias": true,
	},
}

var eventSourceOf = map[string]string{"aws.sns": "sns.amazonaws.com", "aws.kms": "kms.amazonaws.com"}

// topicAttributes are the SetTopicAttributes names that can change a verdict:
// the key, and the access policy that says who publishes.
var topicAttributes = []string{"KmsMasterKeyId", "Policy"}

// DecodeCloudTrail decodes an EventBridge "AWS API Call via CloudTrail" event
// from aws.sns or aws.kms.
func DecodeCloudTrail(raw []byte) (Request, error) {
	top, err := parseTop(raw, "event")
	if err != nil {
		return Request{}, err
	}
	var r Request
	var detailType, id string
	for _, f := range []struct {
		key string
		dst *string
		req bool
	}{{"source", &r.Source, true}, {"detail-type", &detailType, false}, {"id", &id, false},
		{"account", &r.Account, true}, {"region", &r.Region, true}} {
		if f.req {
			*f.dst, err = top.need(f.key)
		} else {
			*f.dst, err = top.str(f.key)
		}
		if err != nil {
			return Request{}, err
		}
	}
	if !validAccount(r.Account) {
		return Request{}, malformed("event.account %s is not 12 digits", clip(r.Account))
	}
	if r.Partition, err = partitionOf(r.Region); err != nil {
		return Request{}, malformed("event.region: %v", err)
	}
	detail, ok, err := top.obj("detail")
	if err != nil {
		return Request{}, err
	}
	if !ok {
		return Request{}, malformed("missing event.detail")
	}
	if r.EventName, err = detail.need("eventName"); err != nil {
		return Request{}, err
	}
	if r.EventID, err = detail.str("eventID"); err != nil {
		return Request{}, err
	}
	if r.EventID == "" {
		r.EventID = id
	}
	if r.Actor, err = actorOf(detail); err != nil {
		return Request{}, err
	}
	if (detailType != "" && detailType != detailTypeCloudTrail) || !handled[r.Source][r.EventName] {
		what := r.EventName
		if detailType != "" && detailType != detailTypeCloudTrail {
			what = detailType
		}
		r.Skip = fmt.Sprintf("event %s from %s is not handled", cut(what), cut(r.Source))
		return r, nil
	}
	if r.Source == "aws.sns" {
		r.Kind = TopicChange
	} else {
		r.Kind = KeyChange
	}
	if es, err := detail.str("eventSource"); err != nil {
		return Request{}, err
	} else if es != "" && es != eventSourceOf[r.Source] {
		return Request{}, malformed("event.detail.eventSource %s does not match source %s", clip(es), r.Source)
	}
	if ar, err := detail.str("awsRegion"); err != nil {
		return Request{}, err
	} else if ar != "" && ar != r.Region {
		return Request{}, malformed("event.detail.awsRegion %s does not match event.region %s", clip(ar), r.Region)
	}
	errorCode, err := detail.str("errorCode")
	if err != nil {
		return Request{}, err
	}
	if errorCode != "" {
		r.Skip = "failed API call: " + cut(errorCode)
		return r, nil
	}
	params, ok, err := detail.obj("requestParameters")
	if err != nil {
		return Request{}, err
	}
	if !ok {
		return Request{}, malformed("missing event.detail.requestParameters")
	}
	if r.Kind == TopicChange {
		return decodeTopicCall(r, detail, params)
	}
	return decodeKeyCall(r, detail, params)
}

// actorOf prefers the role behind a session: it is what the guard knows of
// itself, while the session name varies per invocation.
func actorOf(detail object) (string, error) {
	ui, ok, err := detail.obj("userIdentity")
	if err != nil || !ok {
		return "", err
	}
	if sc, ok, err := ui.obj("sessionContext"); err != nil {
		return "", err
	} else if ok {
		si, ok, err := sc.obj("sessionIssuer")
		if err != nil {
			return "", err
		}
		if ok {
			if a, err := si.str("arn"); err != nil || a != "" {
				return a, err
			}
		}
	}
	return ui.str("arn")
}

func decodeTopicCall(r Request, detail, params object) (Request, error) {
	var topicARN string
	switch r.EventName {
	case "CreateTopic":
		name, err := params.str("name")
		if err != nil {
			return Request{}, err
		}
		resp, ok, err := detail.obj("responseElements")
		if err != nil {
			return Request{}, err
		}
		if ok {
			if topicARN, err = resp.str("topicArn"); err != nil {
				return Request{}, err
			}
		}
		if topicARN == "" {
			if name == "" {
				return Request{}, malformed("missing topic identity: neither event.detail.responseElements.topicArn nor event.detail.requestParameters.name")
			}
			if err := checkTopicName(name); err != nil {
				return Request{}, malformed("event.detail.requestParameters.name: %v", err)
			}
			topicARN = arn{r.Partition, "sns", r.Region, r.Account, name}.String()
		}
		a, err := parseTopicARN(topicARN)
		if err != nil {
			return Request{}, malformed("event.detail.responseElements.topicArn: %v", err)
		}
		if name != "" && name != a.Resource {
			return Request{}, malformed("event.detail.requestParameters.name %s does not match topic ARN %s", clip(name), a)
		}
	case "SetTopicAttributes":
		var err error
		if topicARN, err = params.need("topicArn"); err != nil {
			return Request{}, err
		}
		attr, err := params.str("attributeName")
		if err != nil {
			return Request{}, err
		}
		if attr == "" {
			// An older, nested form carries the attributes as a map.
			attrs, ok, err := params.obj("attributes")
			if err != nil {
				return Request{}, err
			}
			if !ok || len(attrs.m) == 0 {
				return Request{}, malformed("missing event.detail.requestParameters.attributeName")
			}
			names := make([]string, 0, len(attrs.m))
			for name := range attrs.m {
				names = append(names, name)
			}
			sort.Strings(names)
			attr = names[0]
			for _, name := range names {
				if relevantAttribute(name) {
					attr = name
					break
				}
			}
		}
		if _, err := parseTopicARN(topicARN); err != nil {
			return Request{}, malformed("event.detail.requestParameters.topicArn: %v", err)
		}
		if !relevantAttribute(attr) {
			r.Skip = fmt.Sprintf("SetTopicAttributes of %s does not affect encryption", cut(attr))
		}
	}
	a, err := parseTopicARN(topicARN)
	if err != nil {
		return Request{}, malformed("topic ARN: %v", err)
	}
	// SNS calls go to a regional endpoint, so the topic is where the call
	// was made; only the account may differ (a cross-account caller).
	if a.Partition != r.Partition || a.Region != r.Region {
		return Request{}, malformed("topic %s is not in the event's region %s", a, r.Region)
	}
	r.TopicARN, r.Account = a.String(), a.Account
	return r, nil
}

func relevantAttribute(name string) bool {
	for _, a := range topicAttributes {
		if strings.EqualFold(name, a) {
			return true
		}
	}
	return false
}

func decodeKeyCall(r Request, detail, params object) (Request, error) {
	fromResources, err := resourceKey(detail)
	if err != nil {
		return Request{}, err
	}
	fromResponse, err := responseKey(detail)
	if err != nil {
		return Request{}, err
	}
	field := "keyId"
	switch r.EventName {
	case "CreateAlias", "UpdateAlias", "DeleteAlias":
		if r.Alias, err = params.need("aliasName"); err != nil {
			return Request{}, err
		}
		if !validAliasName(r.Alias) {
			return Request{}, malformed("event.detail.requestParameters.aliasName %s is not an alias name", clip(r.Alias))
		}
		field = "targetKeyId"
		if r.EventName == "DeleteAlias" {
			field = ""
		}
	}
	var named string
	if field != "" {
		if named, err = params.str(field); err != nil {
			return Request{}, err
		}
	}
	var key arn
	switch {
	case named != "":
		if key, err = keyARN(named, r.Partition, r.Region, r.Account); err != nil {
			return Request{}, malformed("event.detail.requestParameters.%s: %v", field, err)
		}
		// resources[] and the request must agree: a disagreement means
		// the event was edited, and acting on either could be wrong.
		if fromResources != nil && !sameKey(*fromResources, key) {
			return Request{}, malformed("event.detail.requestParameters.%s %s does not match event.detail.resources key %s", field, clip(named), *fromResources)
		}
	case fromResources != nil:
		key = *fromResources
	case fromResponse != "":
		// CloudTrail has recorded the affected key here since December 2022.
		if key, err = parseKeyARN(fromResponse); err != nil {
			return Request{}, malformed("event.detail.responseElements.keyId: %v", err)
		}
	default:
		return Request{}, malformed("missing key identity: no key in event.detail.resources or event.detail.requestParameters")
	}
	// Key administration is never cross-account or cross-region in KMS.
	if key.Partition != r.Partition || key.Region != r.Region || key.Account != r.Account {
		return Request{}, malformed("key %s is not in the event's account %s and region %s", key, r.Account, r.Region)
	}
	r.KeyID = key.String()
	if r.EventName == "PutKeyPolicy" {
		if r.Policy, err = params.str("policy"); err != nil {
			return Request{}, err
		}
	}
	return r, nil
}

// responseKey returns responseElements.keyId, "" when absent.
func responseKey(detail object) (string, error) {
	resp, ok, err := detail.obj("responseElements")
	if err != nil || !ok {
		return "", err
	}
	return resp.str("keyId")
}

func sameKey(a, b arn) bool {
	return a.Partition == b.Partition && a.Region == b.Region && a.Account == b.Account &&
		strings.EqualFold(a.Resource, b.Resource)
}

// resourceKey returns the key named in event.detail.resources, nil when none is.
// Alias events list the alias there too, typed AWS::KMS::Key like the key
// itself, so the ARN's resource ("key/..." or "alias/...") decides.
func resourceKey(detail object) (*arn, error) {
	items, err := detail.list("resources")
	if err != nil {
		return nil, err
	}
	var found *arn
	for i, raw := range items {
		path := fmt.Sprintf("event.detail.resources[%d]", i)
		res, ok, err := asObject(raw, path)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		typ, err := res.str("type")
		if err != nil {
			return nil, err
		}
		s, err := res.str("ARN")
		if err != nil {
			return nil, err
		}
		a, err := parseARN(s)
		if err != nil {
			if typ == "AWS::KMS::Key" {
				return nil, malformed("%s.ARN: %v", path, err)
			}
			continue
		}
		if a.Service != "kms" || !strings.HasPrefix(a.Resource, "key/") {
			continue
		}
		if a, err = parseKeyARN(s); err != nil {
			return nil, malformed("%s.ARN: %v", path, err)
		}
		if found != nil && !sameKey(*found, a) {
			return nil, malformed("event.detail.resources names two keys: %s and %s", *found, a)
		}
		found = &a
	}
	return found, nil
}

// cut shortens an untrusted value kept in a skip reason.
func cut(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
