// Package plan computes the smallest safe change to a KMS key policy that
// makes the given grants true (statement surgery as a pure function). It never
// touches a statement that does not grant a target service principal, never adds
// a principal outside the SNS documentation's service-principal table, never writes "*", never exceeds 32,768
// bytes, and is idempotent.
//
// The fix is level-based: Fix looks at the whole policy as it is now, does
// nothing when every grant already holds, and otherwise edits only what is
// missing. The one statement per principal that the planner writes carries a
// stable Sid (see SID); on later runs that statement is updated in place, so
// repeated or concurrent fixes never pile up statements.
package plan

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/rules"
	"github.com/snskeyguard/snskeyguard/shared/sources"
)

// ErrTooLarge means the fixed policy would pass policy.MaxKeyPolicyBytes (POLICY_TOO_LARGE).
var ErrTooLarge = errors.New("fixed key policy would exceed 32768 bytes")

// ErrRefused means a grant asked for something the safety invariants forbid
// (a principal outside the SNS documentation's service-principal table, "*", an AWS account or role, a grant
// without confused-deputy values, or a Sid of ours taken by someone else).
var ErrRefused = errors.New("grant refused")

// Change is a planned key-policy change.
type Change struct {
	Policy  []byte   // the complete new policy (valid JSON, <= 32768 bytes)
	Changed bool     // false when the policy already satisfies every grant (Policy is then the input)
	Summary []string // one line per edit, for logs and the report ("add statement for s3.amazonaws.com")
}

const (
	eventsPrincipal  = "events.amazonaws.com"
	actionGenerate   = "kms:GenerateDataKey*"
	actionDecrypt    = "kms:Decrypt"
	keySourceAccount = "aws:SourceAccount"
	keySourceARN     = "aws:SourceArn"
	keyTopicARN      = "kms:EncryptionContext:aws:sns:topicArn"
	sidPrefix        = "AllowSNSPublishers"
)

// eventsUnsupportedKeys are absent from EventBridge's requests to KMS, so any
// statement that requires them can never grant events.amazonaws.com. The SNS
// guide names aws:SourceOrgID too; the org paths key travels with it.
var eventsUnsupportedKeys = []string{keySourceAccount, keySourceARN, "aws:SourceOrgID", "aws:SourceOrgPaths"}

var accountRE = regexp.MustCompile(`^[0-9]{12}$`)

// SID is the Sid of the statement the planner owns for a principal:
// "AllowSNSPublishers" followed by the principal's name without
// ".amazonaws.com", each part capitalised (events.rds.amazonaws.com →
// AllowSNSPublishersEventsRds). Letters and digits only, so the Sid is valid
// in any IAM dialect.
func SID(principal string) string {
	name := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(principal)), ".amazonaws.com")
	var b strings.Builder
	b.WriteString(sidPrefix)
	upper := true
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z':
			if upper {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			upper = false
		case r >= '0' && r <= '9':
			b.WriteRune(r)
			upper = false
		default:
			upper = true
		}
	}
	return b.String()
}

// OwnSID reports whether a Sid is one the planner writes (SID's form).
func OwnSID(sid string) bool {
	return strings.HasPrefix(sid, sidPrefix) && len(sid) > len(sidPrefix)
}

// target is a validated, merged grant.
type target struct {
	principal string
	accounts  []string
	arns      []string
	topics    []string
}

// maxTopicContexts bounds the topics whose requests the planner evaluates
// one by one; beyond it the topic-related keys are unknown (a narrowing on
// them is then kept as the owner wrote it, never extended or dropped).
const maxTopicContexts = 16

// Fix returns the policy with every grant made true. Grants for the same
// principal are merged. EventBridge grants are handled first, so that a
// statement shared between events and another service is already split when
// the other service's turn comes.
func Fix(data []byte, grants []rules.Grant) (Change, error) {
	return FixDoc(nil, data, grants)
}

// FixDoc is Fix for a caller that has parsed the key policy already (once
// per key, for rules.Key.Parsed): doc is used when doc.ParsedFrom(data),
// else data is parsed. doc is never edited; the statements the fix changes
// are copied first, so one document can serve concurrent calls.
func FixDoc(doc *policy.Document, data []byte, grants []rules.Grant) (Change, error) {
	targets, err := validate(grants)
	if err != nil {
		return Change{}, err
	}
	w := &work{}
	if doc.ParsedFrom(data) {
		w.doc = doc.ShallowClone()
	} else if w.doc, err = policy.Parse(data); err != nil {
		return Change{}, fmt.Errorf("parse key policy: %w", err)
	}
	doc = w.doc
	var summary []string
	// EventBridge first: moving it out of a statement it shared can leave
	// that statement another principal's own, which its fix then protects.
	sort.SliceStable(targets, func(i, j int) bool {
		return targets[i].principal == eventsPrincipal && targets[j].principal != eventsPrincipal
	})
	for _, t := range targets {
		var lines []string
		if t.principal == eventsPrincipal {
			lines, err = w.fixEvents(t)
		} else {
			lines, err = w.fixService(t)
		}
		if err != nil {
			return Change{}, err
		}
		summary = append(summary, lines...)
	}
	if len(summary) == 0 {
		return Change{Policy: data, Changed: false}, nil
	}
	// KMS counts bytes, not meaning: dropping the indentation of a policy
	// that would not fit is the only change that cannot alter what it says.
	out, err := doc.MarshalWithin(policy.MaxKeyPolicyBytes)
	if err != nil {
		return Change{}, fmt.Errorf("marshal fixed key policy: %w", err)
	}
	if len(out) > policy.MaxKeyPolicyBytes {
		return Change{}, ErrTooLarge
	}
	return Change{Policy: out, Changed: true, Summary: summary}, nil
}

// work is the document being fixed. Its statements start out shared with
// the caller's document; edit copies one before it is changed, and owned
// remembers the copies (and the statements the planner made), so removing a
// statement, which shifts the others, never lets a shared one be edited.
type work struct {
	doc   *policy.Document
	owned map[*policy.Statement]bool
}

// edit returns statement i ready to be edited in place.
func (w *work) edit(i int) *policy.Statement {
	s := w.doc.Statements[i]
	if !w.owned[s] {
		s = s.Clone()
		w.own(s)
		w.doc.Statements[i] = s
	}
	return s
}

func (w *work) own(s *policy.Statement) {
	if w.owned == nil {
		w.owned = map[*policy.Statement]bool{}
	}
	w.owned[s] = true
}

// validate enforces invariant 3 on the grants and merges them per principal,
// events first, then by principal name.
func validate(grants []rules.Grant) ([]target, error) {
	byPrincipal := map[string]*target{}
	for _, g := range grants {
		p := strings.ToLower(strings.TrimSpace(g.Principal))
		if p == "" || strings.Contains(p, "*") || !strings.HasSuffix(p, ".amazonaws.com") || !sources.InTable(p) {
			return nil, fmt.Errorf("%w: principal %q is not in the SNS documentation's service-principal table", ErrRefused, g.Principal)
		}
		t := byPrincipal[p]
		if t == nil {
			t = &target{principal: p}
			byPrincipal[p] = t
		}
		for _, a := range g.TopicARNs {
			a = strings.TrimSpace(a)
			if f := strings.SplitN(a, ":", 6); len(f) != 6 || f[0] != "arn" || f[2] != "sns" || f[5] == "" || strings.ContainsAny(a, "*?") {
				return nil, fmt.Errorf("%w: %s: %q is not an SNS topic ARN", ErrRefused, p, a)
			}
			t.topics = appendNew(t.topics, a)
		}
		if p == eventsPrincipal {
			continue // EventBridge takes no confused-deputy values
		}
		for _, a := range g.SourceAccounts {
			a = strings.TrimSpace(a)
			if !accountRE.MatchString(a) {
				return nil, fmt.Errorf("%w: %s: aws:SourceAccount %q is not an account id", ErrRefused, p, a)
			}
			t.accounts = appendNew(t.accounts, a)
		}
		for _, a := range g.SourceARNs {
			a = strings.TrimSpace(a)
			if !strings.HasPrefix(a, "arn:") || len(strings.SplitN(a, ":", 6)) != 6 {
				return nil, fmt.Errorf("%w: %s: aws:SourceArn %q is not an ARN pattern", ErrRefused, p, a)
			}
			t.arns = appendNew(t.arns, a)
		}
	}
	out := make([]target, 0, len(byPrincipal))
	for _, t := range byPrincipal {
		if t.principal != eventsPrincipal && (len(t.accounts) == 0 || len(t.arns) == 0) {
			return nil, fmt.Errorf("%w: %s: a grant needs both aws:SourceAccount and aws:SourceArn values", ErrRefused, t.principal)
		}
		sort.Strings(t.accounts)
		sort.Strings(t.arns)
		sort.Strings(t.topics)
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool {
		ei, ej := out[i].principal == eventsPrincipal, out[j].principal == eventsPrincipal
		if ei != ej {
			return ei
		}
		return out[i].principal < out[j].principal
	})
	return out, nil
}

// fixService makes the grant true for a principal that takes confused-deputy
// conditions.
func (w *work) fixService(t target) ([]string, error) {
	doc := w.doc
	var summary []string
	ours, err := findOurs(doc, t.principal)
	if err != nil {
		return nil, err
	}
	for i, s := range doc.Statements {
		// Cheap tests first: most statements of a big policy name other principals.
		if own, ok := s.OwnService(); !ok || !strings.EqualFold(own, t.principal) {
			continue // shared statements are reported by the rules, never edited
		}
		if !s.IsAllow() || !grantsKMS(s) {
			continue
		}
		needAccount, needARN := !rules.SourceRestricted(s, keySourceAccount), !rules.SourceRestricted(s, keySourceARN)
		if rules.RewriteRefused(s, t.accounts, t.arns) {
			// Rewriting would make a statement that grants more than SNS
			// needs apply where it never did; our own statement grants
			// the principal instead.
			continue
		}
		var added []string
		if needAccount {
			s = w.edit(i)
			setCondition(s, "StringEquals", keySourceAccount, t.accounts)
			added = append(added, keySourceAccount)
		}
		if needARN {
			s = w.edit(i)
			setCondition(s, "ArnLike", keySourceARN, t.arns)
			added = append(added, keySourceARN)
		}
		if len(added) > 0 {
			summary = append(summary, fmt.Sprintf("add %s condition to statement %s for %s", strings.Join(added, " and "), label(s, i), t.principal))
		}
	}
	return w.writeOurs(t, ours, summary), nil
}

// fixEvents makes EventBridge's grant true: it must not depend on keys that
// EventBridge's requests never carry, and it must end with exactly what SNS
// needs. A statement that requires those keys and grants EventBridge alone
// exactly kms:GenerateDataKey*/kms:Decrypt loses the keys in place. Any other
// (more actions, kms:*, NotAction, other principals) would give EventBridge
// all of it unconditioned if stripped, so EventBridge leaves it instead:
// its Service entry is removed, or the whole statement when EventBridge is
// its only principal (the statement then granted no one else anything, and
// nothing it granted EventBridge ever applied to SNS's requests), and
// EventBridge gets the statement with our Sid. A statement whose conditions
// name EventBridge's own resources (an events ARN, its encryption context)
// serves EventBridge's own use of the key (an encrypted event bus) and is
// kept as it is.
func (w *work) fixEvents(t target) ([]string, error) {
	doc := w.doc
	var summary []string
	if _, err := findOurs(doc, t.principal); err != nil {
		return nil, err
	}
	for i := 0; i < len(doc.Statements); i++ {
		s := doc.Statements[i]
		if !listsService(s, eventsPrincipal) || !s.IsAllow() || !grantsKMS(s) || !requiresUnsupported(s) {
			continue
		}
		only := onlyService(s, eventsPrincipal)
		switch {
		case only && rules.ExactlySNSActions(s):
			s = w.edit(i)
			removed := dropUnsupported(s)
			summary = append(summary, fmt.Sprintf("remove %s condition from statement %s for %s", strings.Join(removed, " and "), label(s, i), eventsPrincipal))
		case rules.EventBridgeOwnUse(s):
			// kept: ours is added beside it
		case only:
			summary = append(summary, fmt.Sprintf("remove statement %s: it grants only %s, more than kms:GenerateDataKey*/kms:Decrypt and only with conditions its requests never carry", label(s, i), eventsPrincipal))
			doc.Statements = slices.Delete(doc.Statements, i, i+1)
			i--
		default:
			// Shared: the other principals keep the statement as it was;
			// EventBridge leaves it and gets its own below.
			s = w.edit(i)
			s.Principal.Service.Items = slices.DeleteFunc(s.Principal.Service.Items, func(v string) bool {
				return strings.EqualFold(v, eventsPrincipal)
			})
			if len(s.Principal.Service.Items) == 0 {
				s.Principal.Service = nil
			}
			summary = append(summary, fmt.Sprintf("remove %s from shared statement %s", eventsPrincipal, label(s, i)))
		}
	}
	ours, err := findOurs(doc, t.principal) // a removal may have moved it
	if err != nil {
		return nil, err
	}
	return w.writeOurs(t, ours, summary), nil
}

// writeOurs adds the statement with our Sid (ours < 0) or rewrites it when
// the edits of existing statements left the grant uncovered. A rewrite keeps
// the confused-deputy values it held that still restrict, and every
// condition entry the owner added that does not break the grant (see
// rewriteOurs).
func (w *work) writeOurs(t target, ours int, summary []string) []string {
	doc := w.doc
	if covered(doc, t) {
		return summary
	}
	if ours < 0 {
		var accounts, arns []string
		if t.principal != eventsPrincipal {
			accounts, arns = t.accounts, t.arns
		}
		s := newStatement(t.principal, accounts, arns)
		w.own(s)
		doc.Statements = append(doc.Statements, s)
		return append(summary, fmt.Sprintf("add statement %s for %s", SID(t.principal), t.principal))
	}
	s := rewriteOurs(doc, doc.Statements[ours], t)
	if sameStatement(s, doc.Statements[ours]) {
		// Already what we write: what leaves the grant uncovered is a
		// narrowing the owner added that cannot be decided here (the topic
		// ARN in the encryption context): kept, as the owner meant it.
		return summary
	}
	w.own(s)
	doc.Statements[ours] = s
	return append(summary, fmt.Sprintf("update statement %s for %s", SID(t.principal), t.principal))
}

// rewriteOurs is the statement with our Sid as the planner writes it: the
// seed's grant (principal, actions, Resource "*"), with the owner's
// conditions except those that break it. For EventBridge the entries on keys
// its requests never carry go (aws:SourceAccount, aws:SourceArn,
// aws:SourceOrgID, aws:SourceOrgPaths); for the others StringEquals
// aws:SourceAccount and ArnLike aws:SourceArn hold the grant's values merged
// with those already there that still restrict, and every other non-negated
// entry on those two keys goes (it could exclude the grant's sources). Any
// remaining entry that is certainly false for one of the grant's requests
// goes too; entries on keys the planner cannot know (the topic ARN in the
// encryption context, kms:ViaService) stay, as the owner's narrowing.
func rewriteOurs(doc *policy.Document, old *policy.Statement, t target) *policy.Statement {
	events := t.principal == eventsPrincipal
	var accounts, arns []string
	if !events {
		accounts = mergeValues(conditionValues(old, "StringEquals", keySourceAccount), t.accounts)
		arns = mergeValues(conditionValues(old, "ArnLike", keySourceARN), t.arns)
	}
	s := newStatement(t.principal, nil, nil)
	ctxs := contexts(t)
	for i := range ctxs {
		// The owner's entries read as in their policy (literal ${...}
		// outside 2012-10-17).
		ctxs[i] = ctxs[i].ForDocument(doc)
	}
	setAccount, setARN := false, false
	for _, b := range old.Clone().Condition {
		op := policy.ParseOperator(b.Operator)
		nb := policy.ConditionBlock{Operator: b.Operator}
		for _, k := range b.Keys {
			key := strings.TrimSpace(k.Key)
			switch {
			case events && isUnsupportedKey(key):
				continue
			case !events && strings.EqualFold(key, keySourceAccount) && strings.EqualFold(b.Operator, "StringEquals") && !setAccount:
				setAccount = true
				nb.Keys = append(nb.Keys, policy.ConditionKey{Key: k.Key, Values: *values(accounts)})
				continue
			case !events && strings.EqualFold(key, keySourceARN) && strings.EqualFold(b.Operator, "ArnLike") && !setARN:
				setARN = true
				nb.Keys = append(nb.Keys, policy.ConditionKey{Key: k.Key, Values: *values(arns)})
				continue
			case !events && (strings.EqualFold(key, keySourceAccount) || strings.EqualFold(key, keySourceARN)) && !op.Negated:
				continue
			}
			if breaks(b.Operator, k, ctxs) {
				// A pin on the topic in the encryption context is extended
				// to the topics the grant serves rather than dropped.
				if !strings.EqualFold(key, keyTopicARN) || op.Negated || len(t.topics) == 0 {
					continue
				}
				k.Values = *values(mergeValues(k.Values.Items, t.topics))
				if breaks(b.Operator, k, ctxs) {
					continue
				}
			}
			nb.Keys = append(nb.Keys, k)
		}
		if len(nb.Keys) > 0 {
			s.Condition = append(s.Condition, nb)
		}
	}
	if !events {
		if !setAccount {
			setCondition(s, "StringEquals", keySourceAccount, accounts)
		}
		if !setARN {
			setCondition(s, "ArnLike", keySourceARN, arns)
		}
	}
	return s
}

// absentForServices are keys documented as absent from a service principal's
// request (DESIGN.md's request context): an entry requiring one of them
// certainly breaks the grant.
const encryptionContextPrefix = "kms:EncryptionContext:"

var absentForServices = []string{"aws:PrincipalArn", "aws:PrincipalAccount", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:userid", "aws:username", "kms:CallerAccount"}

// breaks reports whether a condition entry is certainly false for one of
// the grant's requests, judged only on keys the planner knows (those it sets
// and those absent for service principals). An entry on any other key (the
// encryption context, kms:ViaService, aws:SecureTransport, ...) is the
// owner's narrowing, evaluated by the judge with the real request; the
// planner keeps it.
func breaks(operator string, k policy.ConditionKey, ctxs []policy.Context) bool {
	key := strings.TrimSpace(k.Key)
	entry := policy.Conditions{{Operator: operator, Keys: []policy.ConditionKey{k}}}
	// SNS's encryption context holds aws:sns:topicArn only, so every other
	// kms:EncryptionContext:<key> is absent, as the judge's request context
	// has it (rules/request.go).
	absent := slices.ContainsFunc(absentForServices, func(a string) bool { return strings.EqualFold(a, key) }) ||
		(len(key) > len(encryptionContextPrefix) && strings.EqualFold(key[:len(encryptionContextPrefix)], encryptionContextPrefix) &&
			!strings.EqualFold(key, keyTopicARN))
	for _, c := range ctxs {
		if _, unknown, ok := c.Lookup(key); !absent && (!ok || unknown) {
			return false
		}
		if entry.Eval(c) == policy.False {
			return true
		}
	}
	return false
}

// sameStatement reports whether two statements mean the same (policy.Equal's rules).
func sameStatement(a, b *policy.Statement) bool {
	return (&policy.Document{Statements: []*policy.Statement{a}}).Equal(&policy.Document{Statements: []*policy.Statement{b}})
}

// onlyService reports whether the service is the statement's only principal,
// however often it is listed (removing it would leave a Principal naming no one).
func onlyService(s *policy.Statement, service string) bool {
	p := s.Principal
	if p == nil || s.NotPrincipal != nil || p.Wildcard || p.Service == nil {
		return false
	}
	for _, v := range []*policy.Values{p.AWS, p.Federated, p.CanonicalUser} {
		if v != nil && len(v.Items) > 0 {
			return false
		}
	}
	for _, v := range p.Service.Items {
		if !strings.EqualFold(v, service) {
			return false
		}
	}
	return len(p.Service.Items) > 0
}

// findOurs returns the index of the statement carrying our Sid for the
// principal, or -1, refusing one that checkOurs refuses. The edits that follow
// change statements in place, never the Sid or the order, so the index stays.
func findOurs(doc *policy.Document, principal string) (int, error) {
	ours, sid := -1, SID(principal)
	for i, s := range doc.Statements {
		if s.Sid == sid {
			if err := checkOurs(s, principal, ours); err != nil {
				return -1, err
			}
			ours = i
		}
	}
	return ours, nil
}

// checkOurs refuses to take over a statement that carries our Sid but is not
// an Allow for the principal alone: rewriting it would touch a statement that
// someone else owns (or turn their Deny into an Allow). A Sid used twice is
// refused too: which of the two is ours cannot be told.
func checkOurs(s *policy.Statement, principal string, seen int) error {
	if seen >= 0 {
		return fmt.Errorf("%w: Sid %q is used by more than one statement", ErrRefused, s.Sid)
	}
	own, ok := s.OwnService()
	if !ok || !strings.EqualFold(own, principal) || !s.IsAllow() || s.NotPrincipal != nil {
		return fmt.Errorf("%w: statement %q is not an Allow for %s alone", ErrRefused, s.Sid, principal)
	}
	return nil
}

// newStatement is the statement the planner writes: the SNS documentation's grant statement, with
// the confused-deputy conditions unless values are nil (EventBridge).
func newStatement(principal string, accounts, arns []string) *policy.Statement {
	s := &policy.Statement{
		Sid:       SID(principal),
		Effect:    "Allow",
		Principal: &policy.Principal{Service: values([]string{principal})},
		Action:    &policy.Values{Items: []string{actionGenerate, actionDecrypt}},
		Resource:  values([]string{"*"}),
	}
	if len(accounts) > 0 || len(arns) > 0 {
		s.Condition = policy.Conditions{
			{Operator: "StringEquals", Keys: []policy.ConditionKey{{Key: keySourceAccount, Values: *values(accounts)}}},
			{Operator: "ArnLike", Keys: []policy.ConditionKey{{Key: keySourceARN, Values: *values(arns)}}},
		}
	}
	return s
}

// values writes one value as a string and several as an array, as the SNS documentation does.
func values(items []string) *policy.Values {
	return &policy.Values{Items: slices.Clone(items), Single: len(items) == 1}
}

// grantsKMS reports whether the statement covers an action SNS calls for a publisher.
func grantsKMS(s *policy.Statement) bool {
	return s.MatchesAction("kms:GenerateDataKey") || s.MatchesAction("kms:Decrypt")
}

// listsService reports whether the statement names the service explicitly in
// its Principal's Service list (a "*" principal is not something we can edit).
func listsService(s *policy.Statement, service string) bool {
	if s.Principal == nil || s.Principal.Service == nil {
		return false
	}
	for _, v := range s.Principal.Service.Items {
		if strings.EqualFold(v, service) {
			return true
		}
	}
	return false
}

// requiresUnsupported reports whether some operator needs a key that
// EventBridge's requests lack: any positive, non-IfExists operator (they are
// false on an absent key, whatever the value), or Null "false".
func requiresUnsupported(s *policy.Statement) bool {
	for _, b := range s.Condition {
		for _, k := range b.Keys {
			if isUnsupportedKey(k.Key) && requiresPresence(b.Operator, k.Values) {
				return true
			}
		}
	}
	return false
}

func requiresPresence(operator string, v policy.Values) bool {
	op := policy.ParseOperator(operator)
	if !op.Known {
		return false // undecidable: leave it to the rules to report
	}
	if op.Base == "Null" {
		return slices.ContainsFunc(v.Items, func(x string) bool { return strings.EqualFold(x, "false") })
	}
	return !op.Negated && !op.IfExists && op.Qualifier != "ForAllValues"
}

func isUnsupportedKey(key string) bool {
	return slices.ContainsFunc(eventsUnsupportedKeys, func(k string) bool { return strings.EqualFold(k, strings.TrimSpace(key)) })
}

// dropUnsupported removes the keys EventBridge lacks from the operators that
// require them, dropping emptied operator blocks and an emptied Condition.
// Other keys and operators stay as they were.
func dropUnsupported(s *policy.Statement) []string {
	var removed []string
	var blocks policy.Conditions
	for _, b := range s.Condition {
		var keys []policy.ConditionKey
		for _, k := range b.Keys {
			if isUnsupportedKey(k.Key) && requiresPresence(b.Operator, k.Values) {
				removed = appendNew(removed, k.Key)
				continue
			}
			keys = append(keys, k)
		}
		if len(keys) == 0 {
			continue
		}
		b.Keys = keys
		blocks = append(blocks, b)
	}
	if len(blocks) == 0 {
		blocks = nil
	}
	s.Condition = blocks
	return removed
}

// setCondition sets operator/key to vals in place: the key's values are
// replaced if the operator block already names it (it did not restrict, or we
// would not be here), else the key is appended to the block, else a block is
// appended. Other keys and blocks keep their order.
func setCondition(s *policy.Statement, operator, key string, vals []string) {
	for i := range s.Condition {
		b := &s.Condition[i]
		if !strings.EqualFold(b.Operator, operator) {
			continue
		}
		for j := range b.Keys {
			if strings.EqualFold(strings.TrimSpace(b.Keys[j].Key), key) {
				b.Keys[j].Values = *values(vals)
				return
			}
		}
		b.Keys = append(b.Keys, policy.ConditionKey{Key: key, Values: *values(vals)})
		return
	}
	s.Condition = append(s.Condition, policy.ConditionBlock{Operator: operator, Keys: []policy.ConditionKey{{Key: key, Values: *values(vals)}}})
}

// conditionValues returns the values of operator/key that restrict the key
// on their own (rules.ProtectsSource): a "*", "????????????" or an ARN
// pattern open to every account in our own statement would undo the
// confused-deputy protection.
func conditionValues(s *policy.Statement, operator, key string) []string {
	var out []string
	for _, b := range s.Condition {
		if !strings.EqualFold(b.Operator, operator) {
			continue
		}
		for _, k := range b.Keys {
			if strings.EqualFold(k.Key, key) {
				for _, v := range k.Values.Items {
					if rules.ProtectsSource(b.Operator, key, []string{v}) {
						out = appendNew(out, v)
					}
				}
			}
		}
	}
	return out
}

// mergeValues keeps the existing values in their order and appends the new ones.
func mergeValues(existing, add []string) []string {
	out := slices.Clone(existing)
	for _, v := range add {
		out = appendNew(out, v)
	}
	return out
}

func appendNew(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// covered reports whether Allow statements give the principal both actions
// SNS calls, for every source the grant names, in the request context SNS
// creates. Values the planner cannot know (the key's account, the topic ARN)
// are unknown, and only a certain "true" counts, so a statement narrowed by
// them does not count and the planner adds its own. Source ARN patterns stand
// for the ARNs they match: an existing ArnLike pattern covers ours when it
// matches our pattern as text, that is, when it is at least as broad.
// Resource must cover every key ("*" or absent): the planner does not know
// the key's ARN, and a statement naming another key grants nothing on this
// one, so only a statement that certainly applies counts.
func covered(doc *policy.Document, t target) bool {
	for _, ctx := range contexts(t) {
		// ${...} is literal text outside 2012-10-17 policies, as the judge
		// reads it (policy.Context.ForDocument).
		ctx = ctx.ForDocument(doc)
		var gen, dec bool
		for _, s := range doc.Statements {
			if !s.IsAllow() || !s.MatchesPrincipal(policy.Identity{Service: t.principal}) || !coversAnyKey(s) || s.EvalCondition(ctx) != policy.True {
				continue
			}
			gen = gen || s.MatchesAction("kms:GenerateDataKey")
			dec = dec || s.MatchesAction("kms:Decrypt")
		}
		if !gen || !dec {
			return false
		}
	}
	return true
}

// coversAnyKey reports whether the statement's resources certainly include
// the key whatever its ARN.
func coversAnyKey(s *policy.Statement) bool {
	if s.NotResource != nil {
		return false
	}
	return s.Resource == nil || slices.ContainsFunc(s.Resource.Items, wildcardOnly)
}

// wildcardOnly reports whether a value matches anything ("*", "**", ...).
// Resource values are matched as written, as the judge matches them
// (policy.Statement.MatchesResource): "* " names only ARNs that end in a
// space, which no key ARN does.
func wildcardOnly(v string) bool {
	return v != "" && strings.Trim(v, "*") == ""
}

// contexts returns one request context per (account, ARN pattern) the grant
// names (one context without them for EventBridge), for each topic of the
// grant: the encryption context SNS sets (the topic ARN), kms:ViaService of
// the topic's region and aws:ResourceAccount of its account (a key is fixed
// only in the topics' own account). Without topics, or beyond
// maxTopicContexts of them, those keys are unknown.
func contexts(t target) []policy.Context {
	topics := t.topics
	if len(topics) > maxTopicContexts {
		topics = nil
	}
	if len(topics) == 0 {
		topics = []string{""}
	}
	base := func(topic string) policy.Context {
		c := policy.NewContext()
		// A fully described request: keys not set here are absent (contexts
		// are open-world by default).
		c.SetOthersAbsent()
		c.Set("aws:PrincipalIsAWSService", "true")
		c.Set("aws:PrincipalServiceName", t.principal)
		f := strings.SplitN(topic, ":", 6)
		if topic == "" || len(f) != 6 {
			c.SetUnknown("aws:ResourceAccount")
			c.SetUnknown("kms:ViaService")
			c.SetUnknown(keyTopicARN)
			c.SetUnknown("kms:EncryptionContextKeys")
			return c
		}
		c.Set("aws:ResourceAccount", f[4])
		c.Set("kms:ViaService", "sns."+f[3]+".amazonaws.com")
		c.Set(keyTopicARN, topic)
		c.Set("kms:EncryptionContextKeys", "aws:sns:topicArn")
		return c
	}
	var out []policy.Context
	for _, topic := range topics {
		if t.principal == eventsPrincipal {
			out = append(out, base(topic))
			continue
		}
		for _, a := range t.accounts {
			for _, arn := range t.arns {
				c := base(topic)
				c.Set(keySourceAccount, a)
				c.Set(keySourceARN, arn)
				out = append(out, c)
			}
		}
	}
	return out
}

// label names a statement in a summary line: its Sid, else its position.
func label(s *policy.Statement, i int) string {
	if s.Sid != "" {
		return fmt.Sprintf("%q", s.Sid)
	}
	return fmt.Sprintf("#%d", i+1)
}
