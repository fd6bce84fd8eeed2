package policy

import (
	"bytes"
	"encoding/base64"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Tri is a three-valued result: a condition that depends on a value not known
// here (e.g. the exact alarm ARN behind aws:SourceArn) is Unknown.
type Tri int8

const (
	False Tri = iota
	True
	Unknown
)

func (t Tri) String() string {
	switch t {
	case False:
		return "False"
	case True:
		return "True"
	case Unknown:
		return "Unknown"
	}
	return "Tri(" + strconv.Itoa(int(t)) + ")"
}

func triOf(b bool) Tri {
	if b {
		return True
	}
	return False
}

func (t Tri) not() Tri {
	switch t {
	case True:
		return False
	case False:
		return True
	}
	return Unknown
}

// Operator describes a condition operator: its base family ("StringEquals",
// "StringLike", "ArnLike", "ArnEquals", "Bool", "Null", ...; canonical case),
// whether it ends in IfExists, whether it is negated, and its set qualifier
// ("", "ForAnyValue", "ForAllValues"). Known reports whether the base is an operator IAM defines.
//
// The base is the positive family: "StringNotLike" is Base "StringLike" with
// Negated, "NotIpAddress" is Base "IpAddress" with Negated. So a check for a
// restricting operator must test !Negated && !IfExists as well as Base. For an
// unknown operator Base is the name without qualifier and IfExists suffix, as written.
type Operator struct {
	Base      string
	IfExists  bool
	Negated   bool
	Qualifier string
	Known     bool
}

// operators maps a lower-case operator name to its positive base and negation.
var operators = map[string]struct {
	base    string
	negated bool
}{}

func init() {
	pos := []string{"StringEquals", "StringEqualsIgnoreCase", "StringLike",
		"NumericEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals",
		"DateEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals",
		"Bool", "BinaryEquals", "IpAddress", "ArnEquals", "ArnLike", "Null"}
	for _, p := range pos {
		operators[strings.ToLower(p)] = struct {
			base    string
			negated bool
		}{p, false}
	}
	neg := map[string]string{
		"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
		"StringNotLike": "StringLike", "NumericNotEquals": "NumericEquals", "DateNotEquals": "DateEquals",
		"NotIpAddress": "IpAddress", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike",
	}
	for n, p := range neg {
		operators[strings.ToLower(n)] = struct {
			base    string
			negated bool
		}{p, true}
	}
}

// ParseOperator splits an operator name such as "ForAnyValue:StringNotLikeIfExists".
// Qualifier and operator are matched case-insensitively and returned in canonical case.
func ParseOperator(name string) Operator {
	var op Operator
	rest := name
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		switch strings.ToLower(rest[:i]) {
		case "foranyvalue":
			op.Qualifier = "ForAnyValue"
		case "forallvalues":
			op.Qualifier = "ForAllValues"
		default:
			op.Base = rest
			return op
		}
		rest = rest[i+1:]
	}
	const ie = "ifexists"
	if len(rest) > len(ie) && strings.EqualFold(rest[len(rest)-len(ie):], ie) {
		op.IfExists = true
		rest = rest[:len(rest)-len(ie)]
	}
	o, ok := operators[strings.ToLower(rest)]
	if !ok || (o.base == "Null" && op.IfExists) {
		op.Base = rest
		return op
	}
	op.Base, op.Negated, op.Known = o.base, o.negated, true
	return op
}

// EvalCondition evaluates the whole Condition block against ctx (blocks and
// keys ANDed, values ORed); an empty block is True. Semantics: operators
// case-insensitive; keys case-insensitive; IfExists is true when the key is
// absent; negated operators (StringNotEquals, StringNotLike, ArnNotEquals,
// ArnNotLike, NumericNotEquals, DateNotEquals, NotIpAddress) are true when the
// key is absent; positive operators are false when absent; Null tests
// presence; ForAnyValue:/ForAllValues: set qualifiers with IAM's rules for
// absent keys (ForAllValues true, ForAnyValue false); Bool, Numeric*, Date*,
// IpAddress, BinaryEquals, Arn*, String* (incl. IgnoreCase, Like with * and ?).
// A key whose value is unknown yields Unknown unless decided anyway (a "*"
// pattern, or a pattern disjoint from or covering the key's shape); a key the
// context does not know yields Unknown unless the answer is the same whether
// it is absent or present (see Context). An unknown operator yields Unknown.
// A False anywhere makes the whole block False, even next to an Unknown.
//
// Multi-valued context keys: without a qualifier, a positive operator matches
// when any context value matches any policy value, and a negated operator is
// the negation of that (no context value matches). ForAnyValue: some context
// value satisfies the operator (for a negated one: matches no policy value);
// ForAllValues: every context value does (an empty set satisfies it).
//
// Policy variables (${aws:SourceAccount}, ${key, 'default'}, ${*}, ${?},
// ${$}) in String* and Arn* values are resolved from ctx, unless ctx was made
// for a policy whose Version is not 2012-10-17 (Context.ForDocument), where
// they are literal text. A variable naming a key absent from the request
// fails every comparison with its value (the IAM User Guide's "Principal key
// values": a value that is "not present" makes "any attempt to match it
// fail", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html):
// under a positive operator that value matches nothing and the other values
// still may; a negated operator is False (see resolveValues). A variable
// whose value is unknown makes its comparison Unknown.
//
// ArnEquals and ArnLike (and their negations) compare the six colon-separated
// ARN fields one by one, each with * and ? wildcards, the last field taking
// the rest of the ARN; a pattern with fewer than six fields is matched against
// the whole value.
func (s *Statement) EvalCondition(ctx Context) Tri {
	return s.Condition.Eval(ctx)
}

// Eval is EvalCondition for a Condition block on its own.
func (c Conditions) Eval(ctx Context) Tri {
	return c.EvalWithout(ctx)
}

// EvalWithout is Eval with the entries for the given keys left out (taken
// as True): what the rest of the block says. A caller that knows why some
// keys are unknown (the exact source of a request) uses it to tell that
// uncertainty apart from the uncertainty of every other key.
func (c Conditions) EvalWithout(ctx Context, skip ...string) Tri {
	res := True
	for _, b := range c {
		op := ParseOperator(b.Operator)
		for _, k := range b.Keys {
			if len(skip) > 0 && keyIn(k.Key, skip) {
				continue
			}
			switch evalKey(op, k, ctx) {
			case False:
				return False
			case Unknown:
				res = Unknown
			}
		}
	}
	return res
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

func evalKey(op Operator, k ConditionKey, ctx Context) Tri {
	if !op.Known {
		return Unknown
	}
	st, vals, shape := ctx.Get(k.Key)
	switch st {
	case KeyAbsent:
		return evalAbsent(op, k)
	case KeyKnown:
		return evalKnown(op, k, vals, ctx)
	case KeyValueUnknown:
		return evalUnknownValue(op, k, shape, ctx)
	}
	// Not known whether the request carries the key: decided only where
	// both possibilities give the same answer.
	if a := evalAbsent(op, k); a == evalUnknownValue(op, k, "", ctx) {
		return a
	}
	return Unknown
}

// evalAbsent is a condition on a key the request lacks.
func evalAbsent(op Operator, k ConditionKey) Tri {
	if op.Base == "Null" {
		return evalNull(k, false)
	}
	switch {
	case op.IfExists && op.Qualifier == "ForAnyValue":
		// The two rules disagree here: ...IfExists "If the key is not
		// present, evaluate the condition element as true"
		// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists),
		// ForAnyValue "tests whether at least one member of the set of
		// request context key values matches", and an absent key has none
		// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html#reference_policies_condition-multi-valued-context-keys).
		// No page says which wins, and IAM is reported to follow
		// ForAnyValue: undecided, so no verdict rests on it.
		return Unknown
	case op.IfExists:
		return True
	case op.Qualifier == "ForAllValues":
		return True
	case op.Qualifier == "ForAnyValue":
		return False
	}
	return triOf(op.Negated)
}

// evalNull: Null "true" asks for absence, "false" for presence; values ORed.
func evalNull(k ConditionKey, present bool) Tri {
	res := False
	for _, v := range k.Values.Items {
		switch strings.ToLower(v) {
		case "true":
			if !present {
				res = True
			}
		case "false":
			if present {
				res = True
			}
		}
	}
	return res
}

// resolved is a policy value after variable substitution; unknown marks one
// whose variable has no known value, never one whose variable names a key
// absent from the request (it matches no request value).
type resolved struct {
	v       string
	unknown bool
	never   bool
}

// resolveValues substitutes policy variables in the values of a String* or
// Arn* condition. A variable naming a key absent from the request fails
// every comparison with its value (IAM User Guide, policy variables,
// "Principal key values": a value that is "not present" means "any attempt
// to match it fails",
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#principaltable).
// Under a positive operator that value matches nothing while the other
// values, ORed with it, still may ("If a single condition operator includes
// multiple values for a context key, those values are evaluated using a
// logical OR",
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html);
// under a negated operator the failed comparison fails the condition: ok is
// then false.
func resolveValues(op Operator, items []string, ctx Context) (out []resolved, ok bool) {
	out = make([]resolved, len(items))
	vars := false
	switch op.Base {
	case "StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike":
		vars = ctx.d == nil || !ctx.d.literalVars
	}
	for i, p := range items {
		out[i].v = p
		if !vars || !strings.Contains(p, "${") {
			continue
		}
		v, st := substitute(p, ctx)
		switch st {
		case varAbsent:
			if op.Negated {
				return nil, false
			}
			out[i].never = true
		case varUnknown:
			out[i].unknown = true
		default:
			out[i].v = v
		}
	}
	return out, true
}

// allNever reports whether no value can match (each names an absent key).
func allNever(vals []resolved) bool {
	for _, p := range vals {
		if !p.never {
			return false
		}
	}
	return true
}

// evalUnknownValue is a condition on a key present with an unknown value,
// constrained to shape when shape is not "".
func evalUnknownValue(op Operator, k ConditionKey, shape string, ctx Context) Tri {
	if op.Base == "Null" {
		return evalNull(k, true)
	}
	vals, ok := resolveValues(op, k.Values.Items, ctx)
	if !ok {
		return False
	}
	if allNever(vals) {
		// A positive operator (a negated one stopped above) whose every
		// value fails: whatever the key's value, nothing matches.
		switch op.Qualifier {
		case "ForAllValues":
			return Unknown // true for an empty set, false otherwise
		}
		return False
	}
	if shape != "" {
		switch op.Base {
		case "StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike":
			// A shape is a single value: with or without a qualifier, the
			// condition holds when the value matches a policy value.
			m := False
			for _, p := range vals {
				r := Unknown
				switch {
				case p.never:
					r = False
				case !p.unknown:
					r = relateShape(op.Base, p.v, shape)
				}
				m = or(m, r)
			}
			if op.Negated {
				return m.not()
			}
			return m
		}
	}
	// Only a pattern that matches every value decides an unknown one.
	if op.Base == "StringLike" || op.Base == "ArnLike" || op.Base == "ArnEquals" {
		for _, v := range k.Values.Items {
			if v == "*" {
				return triOf(!op.Negated)
			}
		}
	}
	return Unknown
}

// evalKnown is a condition on a key present with known values.
func evalKnown(op Operator, k ConditionKey, cvs []string, ctx Context) Tri {
	if op.Base == "Null" {
		return evalNull(k, true)
	}
	vals, ok := resolveValues(op, k.Values.Items, ctx)
	if !ok {
		return False
	}
	// match reports whether one context value matches any policy value
	// under the positive operator.
	match := func(c string) Tri {
		res := False
		for _, p := range vals {
			if p.never {
				continue
			}
			if p.unknown {
				res = Unknown
				continue
			}
			switch matchValue(op.Base, p.v, c) {
			case True:
				return True
			case Unknown:
				res = Unknown
			}
		}
		return res
	}
	switch op.Qualifier {
	case "ForAllValues":
		res := True
		for _, c := range cvs {
			m := match(c)
			if op.Negated {
				m = m.not()
			}
			res = and(res, m)
		}
		return res
	case "ForAnyValue":
		res := False
		for _, c := range cvs {
			m := match(c)
			if op.Negated {
				m = m.not()
			}
			res = or(res, m)
		}
		return res
	}
	res := False
	for _, c := range cvs {
		res = or(res, match(c))
	}
	if op.Negated {
		return res.not()
	}
	return res
}

func and(a, b Tri) Tri {
	if a == False || b == False {
		return False
	}
	if a == Unknown || b == Unknown {
		return Unknown
	}
	return True
}

func or(a, b Tri) Tri {
	if a == True || b == True {
		return True
	}
	if a == Unknown || b == Unknown {
		return Unknown
	}
	return False
}

// matchValue compares one policy value p with one context value c under a
// positive base operator. A value of the wrong type (a malformed number,
// date or address) does not match, as in IAM.
func matchValue(base, p, c string) Tri {
	switch base {
	case "StringEquals":
		return triOf(p == c)
	case "StringEqualsIgnoreCase":
		return triOf(strings.EqualFold(p, c))
	case "StringLike":
		return triOf(MatchWildcard(p, c))
	case "ArnEquals", "ArnLike":
		return triOf(matchARN(p, c))
	case "Bool":
		return triOf(strings.EqualFold(p, c))
	case "BinaryEquals":
		pb, err1 := base64.StdEncoding.DecodeString(p)
		cb, err2 := base64.StdEncoding.DecodeString(c)
		if err1 != nil || err2 != nil {
			return triOf(p == c)
		}
		return triOf(bytes.Equal(pb, cb))
	case "IpAddress":
		return triOf(matchIP(p, c))
	}
	if strings.HasPrefix(base, "Numeric") {
		pn, ok1 := new(big.Float).SetString(strings.TrimSpace(p))
		cn, ok2 := new(big.Float).SetString(strings.TrimSpace(c))
		if !ok1 || !ok2 {
			return False
		}
		return triOf(compares(base[len("Numeric"):], pn.Cmp(cn)))
	}
	if strings.HasPrefix(base, "Date") {
		pt, ok1 := parseDate(p)
		ct, ok2 := parseDate(c)
		if !ok1 || !ok2 {
			return False
		}
		return triOf(compares(base[len("Date"):], ct.Compare(pt)*-1))
	}
	return Unknown
}

// compares applies a comparison suffix to cmp = policy <=> context (so
// "LessThan" means context < policy, i.e. cmp > 0).
func compares(suffix string, cmp int) bool {
	switch suffix {
	case "Equals":
		return cmp == 0
	case "LessThan":
		return cmp > 0
	case "LessThanEquals":
		return cmp >= 0
	case "GreaterThan":
		return cmp < 0
	case "GreaterThanEquals":
		return cmp <= 0
	}
	return false
}

// parseDate accepts the ISO 8601 forms IAM documents and epoch seconds.
func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func matchIP(p, c string) bool {
	addr, err := netip.ParseAddr(strings.TrimSpace(c))
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	p = strings.TrimSpace(p)
	if !strings.Contains(p, "/") {
		pa, err := netip.ParseAddr(p)
		return err == nil && pa.Unmap() == addr
	}
	pfx, err := netip.ParsePrefix(p)
	if err != nil {
		return false
	}
	if pfx.Addr().Is4In6() {
		bits := pfx.Bits() - 96
		if bits < 0 {
			return false
		}
		pfx = netip.PrefixFrom(pfx.Addr().Unmap(), bits)
	}
	return pfx.Masked().Contains(addr)
}

func matchARN(p, c string) bool {
	if p == "*" {
		return true
	}
	pp, ok := arnFields(p)
	if !ok {
		return MatchWildcard(p, c)
	}
	cp, ok := arnFields(c)
	if !ok {
		return false
	}
	for i := range pp {
		if !MatchWildcard(pp[i], cp[i]) {
			return false
		}
	}
	return true
}

// Outcomes of substituting one policy value.
const (
	varOK = iota
	varUnknown
	varAbsent
)

// substitute resolves policy variables in a policy value. The special
// variables ${*}, ${?} and ${$} stand for the literal characters; wildcards
// produced by them are literal in IAM, but here they become patterns again,
// which only over-matches in the rare policy that uses them. ${key, 'default'}
// takes the default when the key is absent. A variable naming an absent key
// (without default) yields varAbsent; one whose value or presence is not
// known, or that has several values, yields varUnknown.
func substitute(p string, ctx Context) (string, int) {
	var b strings.Builder
	for {
		i := strings.Index(p, "${")
		if i < 0 {
			b.WriteString(p)
			return b.String(), varOK
		}
		j := strings.IndexByte(p[i:], '}')
		if j < 0 {
			b.WriteString(p)
			return b.String(), varOK
		}
		b.WriteString(p[:i])
		name := p[i+2 : i+j]
		def, hasDef := "", false
		if k := strings.IndexByte(name, ','); k >= 0 {
			d := strings.TrimSpace(name[k+1:])
			if len(d) >= 2 && d[0] == '\'' && d[len(d)-1] == '\'' {
				def, hasDef = d[1:len(d)-1], true
			}
			name = strings.TrimSpace(name[:k])
		}
		switch name {
		case "*", "?", "$":
			b.WriteString(name)
		default:
			st, vals, _ := ctx.Get(name)
			switch {
			case st == KeyKnown && len(vals) == 1:
				b.WriteString(vals[0])
			case st == KeyAbsent && hasDef:
				b.WriteString(def)
			case st == KeyAbsent:
				return "", varAbsent
			default:
				return "", varUnknown
			}
		}
		p = p[i+j+1:]
	}
}
