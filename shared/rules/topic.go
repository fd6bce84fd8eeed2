package rules

import (
	"sort"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/policy"
)

// publishers is what the topic policy says about who publishes: the service
// principals it allows sns:Publish (with the aws:SourceArn/aws:SourceAccount
// values it scopes them to), the AWS principals, and "*" publishers.
type publishers struct {
	// services maps a normalised service principal to the source values the
	// topic policy names for it.
	services map[string]*sourceValues
	// aws holds AWS principals (ARNs; account ids as root ARNs), normalised.
	aws []string
	// anyone is set when some statement allows "*" to publish; anyoneAccounts
	// are the accounts such statements restrict the caller to (those callers
	// are judged as principals of that account).
	anyone         bool
	anyoneAccounts []string
}

// sourceValues are the confused-deputy values a topic policy pins a service
// to: the union over its statements (accounts, arns) and, per statement, what
// that statement accepts (scopes). Statements are ORed, so a statement without
// aws:SourceArn accepts every source of its accounts whatever the others name:
// a grant built from the union alone would cover less than the topic accepts.
type sourceValues struct {
	accounts []string // aws:SourceAccount / aws:SourceOwner values
	arns     []string // aws:SourceArn values (patterns allowed)
	scopes   []sourceScope
}

// sourceScope is what one topic-policy statement lets a service publish for:
// sources of accounts (nil: any account) with ARNs matching arns (nil: any
// source of those accounts). Only values of entries that ProtectsSource counts
// are kept, so an IfExists, negated or match-everything entry leaves the scope open.
type sourceScope struct {
	accounts []string
	arns     []string
}

// topicPublishers reads the topic policy. A policy that does not parse yields
// nothing: there is no finding for a broken topic policy (SNS would not have
// accepted it), and the required principals still come from configuration
// and discovery.
func topicPublishers(raw []byte, topicARN, partition string) publishers {
	out := publishers{services: map[string]*sourceValues{}}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return out
	}
	doc, err := policy.Parse(raw)
	if err != nil {
		return out
	}
	awsSeen := map[string]bool{}
	for _, s := range doc.Statements {
		if !s.IsAllow() || s.Principal == nil || !s.MatchesAction("sns:Publish") || !s.MatchesResource(topicARN) {
			continue
		}
		p := s.Principal
		if p.Wildcard {
			out.addAnyone(s)
		}
		if p.Service != nil {
			accounts := conditionValues(s, KeySourceAccount, "aws:SourceOwner")
			for _, svc := range p.Service.Items {
				svc = normPrincipal(svc)
				if svc == "" {
					continue
				}
				arns, ok := possibleSourceARNs(s, sourceShape(svc, partition))
				if !ok {
					continue // no source of svc can meet the statement's aws:SourceArn
				}
				sv := out.services[svc]
				if sv == nil {
					sv = &sourceValues{}
					out.services[svc] = sv
				}
				sv.accounts = append(sv.accounts, accounts...)
				sv.arns = append(sv.arns, arns...)
				sv.scopes = append(sv.scopes, sourceScope{accounts: uniqSorted(accounts), arns: uniqSorted(arns)})
			}
		}
		if p.AWS != nil {
			for _, a := range p.AWS.Items {
				a = strings.TrimSpace(a)
				switch {
				case a == "":
				case a == "*":
					out.addAnyone(s)
				default:
					if isAccountID(a) {
						a = rootARN(partition, a)
					}
					if !awsSeen[a] {
						awsSeen[a] = true
						out.aws = append(out.aws, a)
					}
				}
			}
		}
	}
	for _, sv := range out.services {
		sv.accounts = uniqSorted(sv.accounts)
		sv.arns = uniqSorted(sv.arns)
	}
	sort.Strings(out.aws)
	out.anyoneAccounts = uniqSorted(out.anyoneAccounts)
	return out
}

// possibleSourceARNs is conditionValues(s, aws:SourceArn) without the values
// no ARN of shape (the service's aws:SourceArn shape; "" when unknown) can
// match under their entry's own operator. ok is false when an entry that
// restricts aws:SourceArn keeps no value: then no source of the service
// meets the statement (a topic policy naming "arn:::::*" for CloudWatch
// lets no alarm publish), and the statement makes no publisher of it.
func possibleSourceARNs(s *policy.Statement, shape string) (arns []string, ok bool) {
	ctx := policy.NewContext()
	if shape != "" {
		ctx.SetShape(KeySourceARN, shape)
	} else {
		ctx.SetUnknown(KeySourceARN)
	}
	for _, b := range s.Condition {
		for _, k := range b.Keys {
			if !keyIn(k.Key, []string{KeySourceARN}) || !ProtectsSource(b.Operator, k.Key, k.Values.Items) {
				continue
			}
			kept := 0
			for _, v := range k.Values.Items {
				one := policy.Conditions{{Operator: b.Operator, Keys: []policy.ConditionKey{{Key: k.Key, Values: policy.Values{Items: []string{v}}}}}}
				if one.Eval(ctx) == policy.False {
					continue
				}
				kept++
				if v = strings.TrimSpace(v); v != "" {
					arns = append(arns, v)
				}
			}
			if kept == 0 {
				return nil, false
			}
		}
	}
	return arns, true
}

// addAnyone records a "*" publisher. Only concrete account ids pinned by a
// restricting condition make it judgeable; the default topic policy's
// StringEquals AWS:SourceOwner <owner> is the common case.
func (p *publishers) addAnyone(s *policy.Statement) {
	p.anyone = true
	for _, a := range conditionValues(s, "aws:SourceOwner", KeySourceAccount, "aws:PrincipalAccount") {
		if isAccountID(a) {
			p.anyoneAccounts = append(p.anyoneAccounts, a)
		}
	}
}

// conditionValues collects the values of the statement's entries for any of
// keys (case-insensitive) that restrict their key (ProtectsSource): the
// values an entry that lets every source through (IfExists, negated,
// ForAllValues, "*", "????????????", arn:aws:cloudwatch:*:*:alarm:*) gives
// are no restriction and are not collected.
func conditionValues(s *policy.Statement, keys ...string) []string {
	var out []string
	for _, b := range s.Condition {
		for _, k := range b.Keys {
			if !keyIn(k.Key, keys) || !ProtectsSource(b.Operator, k.Key, k.Values.Items) {
				continue
			}
			for _, v := range k.Values.Items {
				if v = strings.TrimSpace(v); v != "" {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

func keyIn(key string, keys []string) bool {
	key = strings.TrimSpace(key)
	for _, k := range keys {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}

func normPrincipal(p string) string { return strings.ToLower(strings.TrimSpace(p)) }

// uniqSorted returns the distinct values in order; nil for none.
func uniqSorted(v []string) []string {
	if len(v) == 0 {
		return nil
	}
	out := append([]string(nil), v...)
	sort.Strings(out)
	n := 0
	for i, s := range out {
		if i == 0 || s != out[n-1] {
			out[n] = s
			n++
		}
	}
	return out[:n]
}
