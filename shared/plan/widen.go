package plan

import (
	"fmt"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/rules"
	"github.com/snskeyguard/snskeyguard/shared/sources"
)

// Grid is the set of requests on which a fix is proved not to widen a key
// policy: every principal that matters (the grants' service principals,
// another service, another account's root, a role of the key's account),
// every action that matters (the two SNS calls, and Encrypt, ReEncryptFrom,
// CreateGrant, PutKeyPolicy, ScheduleKeyDeletion, DisableKey), each in three
// request contexts (a source of the principal's own account, a source of
// another account, no source keys). DESIGN.md's rule: after a fix, no
// principal may do anything in any context it could not do before, except
// the required principals' kms:GenerateDataKey*/kms:Decrypt from their own
// account's sources (EventBridge: without source keys).
//
// The grid is pure and shared: the planner's tests and fuzzers, the
// independent-evaluator oracle and the reliability suites all ask it.
type Grid struct {
	Account  string // the key's account (the topics' owner): 12 digits
	Region   string // the key's region, e.g. us-east-1
	KeyARN   string // the key, for Resource matching ("" = arn:aws:kms:<region>:<account>:key/...)
	TopicARN string // a topic on the key ("" = the encryption-context topic ARN is unknown)
	Grants   []rules.Grant
}

// GridActions are the KMS actions of the grid.
var GridActions = []string{"kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt", "kms:ReEncryptFrom",
	"kms:CreateGrant", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey"}

// otherAccount is the account the grid's foreign principal and sources belong to.
const otherAccount = "999988887777"

// GridRequest is one cell of the grid.
type GridRequest struct {
	Principal string // "service:<name>" or "aws:<arn>"
	Action    string
	Context   string // "own source", "other account's source", "no source keys"
	// Allowed is whether the required-grant exception permits a new allow here.
	Allowed bool
	id      policy.Identity
	ctx     policy.Context
}

// Requests lists the grid's cells.
func (g Grid) Requests() []GridRequest {
	partition := "aws"
	required := map[string]rules.Grant{}
	var services []string
	for _, gr := range g.Grants {
		p := strings.ToLower(strings.TrimSpace(gr.Principal))
		if _, seen := required[p]; !seen {
			services = append(services, p)
		}
		m := required[p]
		m.Principal = p
		m.SourceAccounts = append(m.SourceAccounts, gr.SourceAccounts...)
		m.SourceARNs = append(m.SourceARNs, gr.SourceARNs...)
		required[p] = m
	}
	for _, other := range []string{"ses.amazonaws.com", "dms.amazonaws.com"} {
		if _, ok := required[other]; !ok {
			services = append(services, other)
			break
		}
	}
	var out []GridRequest
	for _, p := range services {
		gr, isRequired := required[p]
		src, _ := sources.Lookup(p)
		events := p == eventsPrincipal
		// Own sources: the grant's ARN patterns (a pattern as the request's
		// value is matched only by a pattern at least as broad), else the
		// sources table's pattern for the account.
		own := gr.SourceARNs
		if len(own) == 0 {
			own = []string{sourceARN(src, partition, g.Region, g.Account, p)}
		}
		// EventBridge's grant carries no condition (its requests lack the
		// keys), so it holds in every context: the exception covers them all.
		for _, arn := range own {
			out = append(out, g.cells(p, "own source", isRequired, g.sourceContext(p, g.Account, arn))...)
			out = append(out, g.cells(p, "other account's source", isRequired && events, g.sourceContext(p, otherAccount, withAccount(arn, otherAccount)))...)
		}
		out = append(out, g.cells(p, "no source keys", isRequired && events, g.sourceContext(p, "", ""))...)
	}
	for _, arn := range []string{"arn:" + partition + ":iam::" + otherAccount + ":root", "arn:" + partition + ":iam::" + g.Account + ":role/application"} {
		c := g.baseContext()
		c.Set("aws:PrincipalIsAWSService", "false")
		c.Set("aws:PrincipalArn", arn)
		c.Set("aws:PrincipalAccount", strings.Split(arn, ":")[4])
		for _, a := range GridActions {
			out = append(out, GridRequest{Principal: "aws:" + arn, Action: a, Context: "no source keys", id: policy.Identity{AWS: arn}, ctx: c})
		}
	}
	return out
}

// cells are one principal's requests in one context, every action;
// allowed marks the two SNS calls as the permitted new allows.
func (g Grid) cells(p, ctxName string, allowed bool, c policy.Context) []GridRequest {
	out := make([]GridRequest, 0, len(GridActions))
	for _, a := range GridActions {
		sns := a == "kms:GenerateDataKey" || a == "kms:Decrypt"
		out = append(out, GridRequest{Principal: "service:" + p, Action: a, Context: ctxName, Allowed: allowed && sns, id: policy.Identity{Service: p}, ctx: c})
	}
	return out
}

func (g Grid) baseContext() policy.Context {
	// A grid cell is a whole request: every key it does not set is absent.
	c := policy.NewContext()
	c.SetOthersAbsent()
	c.Set("aws:ResourceAccount", g.Account)
	c.SetUnknown("kms:ViaService")
	if g.TopicARN != "" {
		c.Set("kms:EncryptionContext:aws:sns:topicArn", g.TopicARN)
		c.Set("kms:EncryptionContextKeys", "aws:sns:topicArn")
	} else {
		c.SetUnknown("kms:EncryptionContext:aws:sns:topicArn")
		c.SetUnknown("kms:EncryptionContextKeys")
	}
	return c
}

// sourceContext is the service p's request; account "" means no source keys.
func (g Grid) sourceContext(p, account, arn string) policy.Context {
	c := g.baseContext()
	c.Set("aws:PrincipalIsAWSService", "true")
	c.Set("aws:PrincipalServiceName", p)
	if account != "" {
		c.Set(keySourceAccount, account)
	}
	if arn != "" {
		c.Set(keySourceARN, arn)
	}
	return c
}

func sourceARN(src sources.Source, partition, region, account, p string) string {
	if a := src.SourceARN(partition, region, account); a != "" {
		return a
	}
	name := strings.TrimSuffix(p, ".amazonaws.com")
	if p == eventsPrincipal {
		return "arn:" + partition + ":events:" + region + ":" + account + ":rule/*"
	}
	return "arn:" + partition + ":" + name + ":" + region + ":" + account + ":*"
}

// withAccount replaces an ARN's account field (an account-less ARN, such as
// an S3 bucket's, stays as it is: aws:SourceAccount tells the accounts apart).
func withAccount(arn, account string) string {
	f := strings.SplitN(arn, ":", 6)
	if len(f) != 6 || f[4] == "" {
		return arn
	}
	f[4] = account
	return strings.Join(f, ":")
}

// Decide evaluates one request against a key policy: True when an Allow
// certainly applies and no Deny may, False when no Allow may apply or a
// Deny certainly does, Unknown otherwise.
func (g Grid) Decide(doc *policy.Document, r GridRequest) policy.Tri {
	key := g.keyARN()
	allow, deny := policy.False, policy.False
	// Policy variables are text outside 2012-10-17 policies.
	ctx := r.ctx.ForDocument(doc)
	for _, s := range doc.Statements {
		if !s.MatchesPrincipal(r.id) || !s.MatchesAction(r.Action) || !s.MatchesResource(key) {
			continue
		}
		c := s.EvalCondition(ctx)
		switch {
		case s.IsDeny():
			deny = maxTri(deny, c)
		case s.IsAllow():
			allow = maxTri(allow, c)
		}
	}
	switch deny {
	case policy.True:
		return policy.False
	case policy.Unknown:
		if allow == policy.True {
			return policy.Unknown
		}
	}
	return allow
}

func (g Grid) keyARN() string {
	if g.KeyARN != "" {
		return g.KeyARN
	}
	return "arn:aws:kms:" + g.Region + ":" + g.Account + ":key/00000000-0000-0000-0000-000000000000"
}

// level orders the three values by how much they allow: False < Unknown < True.
func level(t policy.Tri) int {
	switch t {
	case policy.True:
		return 2
	case policy.Unknown:
		return 1
	}
	return 0
}

func maxTri(a, b policy.Tri) policy.Tri {
	if level(b) > level(a) {
		return b
	}
	return a
}

// Widened returns every grid request that the fixed policy allows more
// (certainly, or possibly where before it certainly did not) than the
// original, outside the required grants' exception; empty when the fix does
// not widen. Either policy failing to parse is an error.
func (g Grid) Widened(before, after []byte) ([]string, error) {
	b, err := policy.Parse(before)
	if err != nil {
		return nil, fmt.Errorf("policy before the fix: %w", err)
	}
	a, err := policy.Parse(after)
	if err != nil {
		return nil, fmt.Errorf("policy after the fix: %w", err)
	}
	return g.WidenedDocs(b, a), nil
}

// WidenedDocs is Widened on parsed documents.
func (g Grid) WidenedDocs(before, after *policy.Document) []string {
	var out []string
	for _, r := range g.Requests() {
		if r.Allowed {
			continue
		}
		was, now := g.Decide(before, r), g.Decide(after, r)
		if level(now) > level(was) {
			out = append(out, fmt.Sprintf("%s %s (%s): %s -> %s", r.Principal, r.Action, r.Context, was, now))
		}
	}
	return out
}
