package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/rules"
	"github.com/snskeyguard/snskeyguard/shared/sources"
)

// CheckFix checks a key policy written by the guard (after) against the
// policy it started from (before) and returns every safety invariant of
// docs/DESIGN.md ("What a fix may do") that is broken, joined, or nil. It is
// the one checker the planner's tests, the rules corpus, the fuzzers and the
// reliability suites share, so every suite means the same thing by "safe".
//
// The grants are what the fix was for. With none (a policy left by several
// runs whose grants the caller does not know), every service principal of the
// SNS documentation's service-principal table counts as a possible target.
//
// The invariants, each compared on parsed JSON (never text):
//   - after is valid JSON, parses as a policy, and has at most 32,768 bytes;
//   - no statement is reordered, none is removed but an Allow for EventBridge
//     alone (moved to our statement), and every statement that names no
//     target principal (and carries no Sid of ours) is unchanged member for
//     member;
//   - no principal is added or removed except target service principals from
//     the table;
//   - an added statement is an Allow for one target principal alone;
//   - a Sid of ours is used at most once, and each service principal gains at
//     most one statement;
//   - with grants, fixing again changes nothing (idempotence).
func CheckFix(before, after []byte, grants ...rules.Grant) error {
	var bad []error
	fail := func(format string, args ...any) { bad = append(bad, fmt.Errorf(format, args...)) }
	if len(after) > policy.MaxKeyPolicyBytes {
		fail("fixed policy is %d bytes > %d", len(after), policy.MaxKeyPolicyBytes)
	}
	if !json.Valid(after) {
		fail("fixed policy is not valid JSON")
		return errors.Join(bad...)
	}
	in, err := policy.Parse(before)
	if err != nil {
		fail("the starting policy does not parse: %v", err)
		return errors.Join(bad...)
	}
	out, err := policy.Parse(after)
	if err != nil {
		fail("fixed policy does not parse: %v", err)
		return errors.Join(bad...)
	}
	rawIn, errIn := rawStatements(before)
	rawOut, errOut := rawStatements(after)
	if err := errors.Join(errIn, errOut); err != nil {
		fail("%v", err)
		return errors.Join(bad...)
	}
	if len(rawIn) != len(in.Statements) || len(rawOut) != len(out.Statements) {
		fail("statement count differs between the JSON and the parsed policy")
		return errors.Join(bad...)
	}

	target := targets(grants)
	// Statements keep their places; those the fix may not touch keep every
	// member. The one statement a fix may remove is an Allow whose only
	// principal is EventBridge (a target), moved to our own statement because
	// its conditions can never match EventBridge's requests. Statements the
	// fix adds come after all of these, each an Allow for one target
	// principal from the table. Whether a Sid-less statement naming a target
	// was edited in place or removed is not written anywhere, so every
	// alignment is tried: the check fails only if none explains the fix.
	if _, ok := alignStatements(in.Statements, out.Statements, rawIn, rawOut, target); !ok {
		// Report the first step the greedy alignment cannot explain.
		j := 0
		for i, s := range in.Statements {
			if j < len(out.Statements) && samePlace(s, out.Statements[j], rawIn[i], rawOut[j], target) {
				if !namesTarget(s, target) && !reflect.DeepEqual(rawIn[i], rawOut[j]) {
					fail("statement %s (no target principal) changed:\n was %s\n now %s", label(s, i), show(rawIn[i]), show(rawOut[j]))
				}
				j++
				continue
			}
			if !removable(s, target) {
				fail("fix removed or reordered statement %s: %s", label(s, i), show(rawIn[i]))
				return errors.Join(bad...)
			}
		}
		for i, st := range out.Statements[j:] {
			if !addable(st, target) {
				fail("added statement %s is not an Allow for one target principal: %s", label(st, j+i), show(rawOut[j+i]))
			}
		}
		if len(bad) == 0 {
			fail("no alignment of the statements explains the fix")
		}
	}
	// No principal appears or goes, except target services.
	was, now := principalSet(in), principalSet(out)
	for p := range now {
		svc, isService := strings.CutPrefix(p, "Service:")
		if !was[p] && !(isService && target(svc)) {
			fail("fix added principal %s", p)
		}
	}
	for p := range was {
		svc, isService := strings.CutPrefix(p, "Service:")
		if !now[p] && !(isService && target(svc)) {
			fail("fix removed principal %s", p)
		}
	}
	// One statement of ours per principal; at most one more statement per service.
	sids := map[string]int{}
	for _, s := range out.Statements {
		if strings.HasPrefix(s.Sid, sidPrefix) {
			sids[s.Sid]++
		}
	}
	for sid, n := range sids {
		if n > 1 {
			fail("%d statements with Sid %s", n, sid)
		}
	}
	countIn, countOut := serviceStatements(in), serviceStatements(out)
	for svc, n := range countOut {
		if n > countIn[svc]+1 {
			fail("%d statements grant %s (%d before)", n, svc, countIn[svc])
		}
	}
	// Idempotence: a second fix for the same grants writes nothing.
	if len(grants) > 0 && len(bad) == 0 {
		again, err := Fix(after, grants)
		switch {
		case err != nil:
			fail("second Fix: %v", err)
		case again.Changed || !bytes.Equal(again.Policy, after):
			fail("second Fix changed the policy: %v", again.Summary)
		}
	}
	return errors.Join(bad...)
}

// CheckFixGrid is CheckFix plus the widening proof: on every request of the
// grid (principals, actions, source contexts; see Grid), the fixed policy
// allows nothing the starting one did not, except the grants' own
// kms:GenerateDataKey*/kms:Decrypt from their own sources.
func CheckFixGrid(g Grid, before, after []byte) error {
	err := CheckFix(before, after, g.Grants...)
	wide, werr := g.Widened(before, after)
	if werr != nil {
		return errors.Join(err, werr)
	}
	if len(wide) > 0 {
		err = errors.Join(err, fmt.Errorf("fix widened the key policy:\n%s", strings.Join(wide, "\n")))
	}
	return err
}

// alignStatements pairs the statements of the starting policy, in order,
// with those of the fixed policy: each is either kept in its place (paired,
// unchanged unless it names a target) or, if removable, gone; the fixed
// policy's statements left after the last pair must each be addable. It
// returns the index of the first added statement.
func alignStatements(in, out []*policy.Statement, rawIn, rawOut []any, target func(string) bool) (int, bool) {
	type key struct{ i, j int }
	seen := map[key]bool{} // (i, j) already shown to have no alignment
	var walk func(i, j int) (int, bool)
	walk = func(i, j int) (int, bool) {
		if i == len(in) {
			for _, st := range out[j:] {
				if !addable(st, target) {
					return 0, false
				}
			}
			return j, true
		}
		if seen[key{i, j}] {
			return 0, false
		}
		s := in[i]
		if j < len(out) && samePlace(s, out[j], rawIn[i], rawOut[j], target) &&
			(namesTarget(s, target) || reflect.DeepEqual(rawIn[i], rawOut[j])) {
			if at, ok := walk(i+1, j+1); ok {
				return at, true
			}
		}
		if removable(s, target) {
			if at, ok := walk(i+1, j); ok {
				return at, true
			}
		}
		seen[key{i, j}] = true
		return 0, false
	}
	return walk(0, 0)
}

// removable is the one kind of statement a fix may remove: an Allow whose
// only principal is EventBridge (however often it is listed), when
// EventBridge is a target.
func removable(s *policy.Statement, target func(string) bool) bool {
	return s.IsAllow() && onlyService(s, eventsPrincipal) && target(eventsPrincipal)
}

// addable is the one kind of statement a fix may add: an Allow for one
// target principal.
func addable(s *policy.Statement, target func(string) bool) bool {
	p, ok := s.OwnService()
	return ok && s.IsAllow() && target(p)
}

// samePlace pairs a statement of the starting policy with one of the
// fixed policy: the planner edits statements in place, so a statement keeps
// its Sid, and one without a Sid that it may not touch keeps every member.
func samePlace(a, b *policy.Statement, rawA, rawB any, target func(string) bool) bool {
	return a.Sid == b.Sid && (a.Sid != "" || namesTarget(a, target) || reflect.DeepEqual(rawA, rawB))
}

// targets returns whether a service principal is one the fix may grant: one
// of the grants' principals (any when there are none) that is in the table.
func targets(grants []rules.Grant) func(string) bool {
	named := map[string]bool{}
	for _, g := range grants {
		named[strings.ToLower(strings.TrimSpace(g.Principal))] = true
	}
	return func(p string) bool {
		p = strings.ToLower(strings.TrimSpace(p))
		return sources.InTable(p) && (len(named) == 0 || named[p])
	}
}

// namesTarget reports whether the statement lists a target in a Service
// principal or carries the Sid of ours for one: the only statements a fix may
// edit.
func namesTarget(s *policy.Statement, target func(string) bool) bool {
	if strings.HasPrefix(s.Sid, sidPrefix) {
		for _, src := range sources.All() {
			if target(src.Principal) && s.Sid == SID(src.Principal) {
				return true
			}
		}
	}
	for _, p := range []*policy.Principal{s.Principal, s.NotPrincipal} {
		if p == nil || p.Service == nil {
			continue
		}
		if slices.ContainsFunc(p.Service.Items, target) {
			return true
		}
	}
	return false
}

// principalSet is every principal value of the document by kind
// ("AWS:arn:...", "Service:s3.amazonaws.com", "*"); service names are
// compared case-insensitively, as IAM does.
func principalSet(d *policy.Document) map[string]bool {
	out := map[string]bool{}
	for _, s := range d.Statements {
		for _, p := range []*policy.Principal{s.Principal, s.NotPrincipal} {
			if p == nil {
				continue
			}
			if p.Wildcard {
				out["*"] = true
			}
			for kind, v := range map[string]*policy.Values{"AWS:": p.AWS, "Service:": p.Service, "Federated:": p.Federated, "CanonicalUser:": p.CanonicalUser} {
				if v == nil {
					continue
				}
				for _, x := range v.Items {
					x = strings.TrimSpace(x)
					if kind == "Service:" {
						x = strings.ToLower(x)
					}
					out[kind+x] = true
				}
			}
		}
	}
	return out
}

// serviceStatements counts, per service principal, the Allow statements
// that name it.
func serviceStatements(d *policy.Document) map[string]int {
	out := map[string]int{}
	for _, s := range d.Statements {
		if !s.IsAllow() || s.Principal == nil || s.Principal.Service == nil {
			continue
		}
		seen := map[string]bool{}
		for _, v := range s.Principal.Service.Items {
			v = strings.ToLower(strings.TrimSpace(v))
			if !seen[v] {
				seen[v] = true
				out[v]++
			}
		}
	}
	return out
}

// rawStatements decodes a policy's statements generically (numbers kept as
// written), to compare statements member for member whatever the planner's
// layout.
func rawStatements(data []byte) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("decode policy: %w", err)
	}
	switch st := top["Statement"].(type) {
	case []any:
		return st, nil
	case map[string]any:
		return []any{st}, nil
	default:
		return nil, fmt.Errorf("policy Statement is %T", st)
	}
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
