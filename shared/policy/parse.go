package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Member names this package models. IAM spells them exactly so; a member that
// differs only in case is rejected rather than silently kept as unknown,
// because ignoring a misspelt "action" would change what the policy means.
var (
	docMembers       = []string{"Version", "Id", "Statement"}
	stmtMembers      = []string{"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
	principalMembers = []string{"AWS", "Service", "Federated", "CanonicalUser"}
)

// Parse parses a policy document. It accepts every legal shape: Statement as
// object or array; Action/NotAction/Resource/NotResource/principal values as
// string or array; Principal "*" or {"AWS"|"Service"|"Federated"|"CanonicalUser": string|array};
// any condition operator. It rejects (with a clear error): invalid JSON, a
// top-level value that is not an object, a missing or empty Statement, a
// statement that is not an object, an Effect other than Allow/Deny (any case),
// members of the wrong JSON type, both Action and NotAction, and so on.
//
// Duplicate member names are legal JSON; as with encoding/json the last value
// wins, and it keeps the position of the first occurrence. Statements are
// numbered from 1 in error messages.
func Parse(data []byte) (*Document, error) {
	// One validating pass gives a positioned syntax error and lets the
	// splitter below trust the input; encoding/json also caps nesting depth.
	var probe json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	members, err := splitObject(probe)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	d := &Document{}
	var stmtRaw json.RawMessage
	for _, m := range members {
		if err := checkSpelling(m.key, docMembers); err != nil {
			return nil, err
		}
		d.meta.order = append(d.meta.order, m.key)
		switch m.key {
		case "Version":
			if d.Version, err = parseString(m.raw); err != nil {
				return nil, fmt.Errorf("Version: %w", err)
			}
		case "Id":
			if d.ID, err = parseString(m.raw); err != nil {
				return nil, fmt.Errorf("Id: %w", err)
			}
		case "Statement":
			stmtRaw = m.raw
		default:
			if d.meta.unknown == nil {
				d.meta.unknown = map[string]json.RawMessage{}
			}
			d.meta.unknown[m.key] = m.raw
		}
	}
	if stmtRaw == nil {
		return nil, errors.New("policy has no Statement")
	}
	var elems []json.RawMessage
	switch kind(stmtRaw) {
	case '{':
		d.meta.stmtObject = true
		elems = []json.RawMessage{stmtRaw}
	case '[':
		if elems, err = splitArray(stmtRaw); err != nil {
			return nil, fmt.Errorf("Statement: %w", err)
		}
		if len(elems) == 0 {
			return nil, errors.New("Statement is an empty array")
		}
	default:
		return nil, fmt.Errorf("Statement is %s, want an object or an array of objects", kindName(stmtRaw))
	}
	d.Statements = make([]*Statement, 0, len(elems))
	for i, e := range elems {
		s, err := parseStatement(e)
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", i+1, err)
		}
		d.Statements = append(d.Statements, s)
	}
	return d, nil
}

func parseStatement(raw json.RawMessage) (*Statement, error) {
	if kind(raw) != '{' {
		return nil, fmt.Errorf("is %s, want an object", kindName(raw))
	}
	members, err := splitObject(raw)
	if err != nil {
		return nil, err
	}
	s := &Statement{}
	hasEffect := false
	for _, m := range members {
		if err := checkSpelling(m.key, stmtMembers); err != nil {
			return nil, err
		}
		s.meta.order = append(s.meta.order, m.key)
		switch m.key {
		case "Sid":
			s.Sid, err = parseString(m.raw)
		case "Effect":
			hasEffect = true
			s.Effect, err = parseString(m.raw)
			if err == nil && !strings.EqualFold(s.Effect, "Allow") && !strings.EqualFold(s.Effect, "Deny") {
				return nil, fmt.Errorf("Effect %q is not Allow or Deny", s.Effect)
			}
		case "Principal":
			s.Principal, err = parsePrincipal(m.raw)
		case "NotPrincipal":
			s.NotPrincipal, err = parsePrincipal(m.raw)
		case "Action":
			s.Action, err = parseValues(m.raw, false)
		case "NotAction":
			s.NotAction, err = parseValues(m.raw, false)
		case "Resource":
			s.Resource, err = parseValues(m.raw, false)
		case "NotResource":
			s.NotResource, err = parseValues(m.raw, false)
		case "Condition":
			s.Condition, err = parseConditions(m.raw)
		default:
			if s.meta.unknown == nil {
				s.meta.unknown = map[string]json.RawMessage{}
			}
			s.meta.unknown[m.key] = m.raw
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.key, err)
		}
	}
	switch {
	case !hasEffect:
		return nil, errors.New("no Effect")
	case s.Action != nil && s.NotAction != nil:
		return nil, errors.New("both Action and NotAction")
	case s.Action == nil && s.NotAction == nil:
		return nil, errors.New("neither Action nor NotAction")
	case s.Principal != nil && s.NotPrincipal != nil:
		return nil, errors.New("both Principal and NotPrincipal")
	case s.Resource != nil && s.NotResource != nil:
		return nil, errors.New("both Resource and NotResource")
	}
	return s, nil
}

func parsePrincipal(raw json.RawMessage) (*Principal, error) {
	switch kind(raw) {
	case '"':
		v, err := parseString(raw)
		if err != nil {
			return nil, err
		}
		if v != "*" {
			return nil, fmt.Errorf("string %q is not \"*\"; name principals as {\"AWS\": ...} or {\"Service\": ...}", v)
		}
		return &Principal{Wildcard: true}, nil
	case '{':
	default:
		return nil, fmt.Errorf("is %s, want \"*\" or an object", kindName(raw))
	}
	members, err := splitObject(raw)
	if err != nil {
		return nil, err
	}
	p := &Principal{}
	for _, m := range members {
		if err := checkSpelling(m.key, principalMembers); err != nil {
			return nil, err
		}
		v, err := parseValues(m.raw, false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.key, err)
		}
		switch m.key {
		case "AWS":
			p.AWS = v
		case "Service":
			p.Service = v
		case "Federated":
			p.Federated = v
		case "CanonicalUser":
			p.CanonicalUser = v
		default:
			// An unknown principal type cannot be evaluated; keeping it as an
			// opaque member would make the evaluator under- or over-grant.
			return nil, fmt.Errorf("unknown principal type %q", m.key)
		}
		p.meta.order = append(p.meta.order, m.key)
	}
	return p, nil
}

func parseConditions(raw json.RawMessage) (Conditions, error) {
	if kind(raw) != '{' {
		return nil, fmt.Errorf("is %s, want an object", kindName(raw))
	}
	ops, err := splitObject(raw)
	if err != nil {
		return nil, err
	}
	c := make(Conditions, 0, len(ops))
	for _, op := range ops {
		if kind(op.raw) != '{' {
			return nil, fmt.Errorf("%s: is %s, want an object of condition keys", op.key, kindName(op.raw))
		}
		keys, err := splitObject(op.raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op.key, err)
		}
		b := ConditionBlock{Operator: op.key, Keys: make([]ConditionKey, 0, len(keys))}
		for _, k := range keys {
			v, err := parseValues(k.raw, true)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", op.key, k.key, err)
			}
			b.Keys = append(b.Keys, ConditionKey{Key: k.key, Values: *v})
		}
		c = append(c, b)
	}
	return c, nil
}

// parseValues reads a string-or-array member. Condition values (scalars=true)
// may also be numbers and booleans; their source text is kept in raw so that
// Marshal writes 42 back as 42, not "42".
func parseValues(raw json.RawMessage, scalars bool) (*Values, error) {
	want := "a string or an array of strings"
	if scalars {
		want = "a string, number, boolean or an array of them"
	}
	one := func(r json.RawMessage) (string, json.RawMessage, bool, error) {
		switch kind(r) {
		case '"':
			s, err := parseString(r)
			return s, nil, err == nil, err
		case 't', 'f', '0':
			if scalars {
				return string(r), r, true, nil
			}
		}
		return "", nil, false, nil
	}
	v := &Values{}
	if kind(raw) != '[' {
		s, r, ok, err := one(raw)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("is %s, want %s", kindName(raw), want)
		}
		v.Items, v.Single = []string{s}, true
		if r != nil {
			v.raw = []json.RawMessage{r}
		}
		return v, nil
	}
	elems, err := splitArray(raw)
	if err != nil {
		return nil, err
	}
	v.Items = make([]string, 0, len(elems))
	for i, e := range elems {
		s, r, ok, err := one(e)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("item %d is %s, want %s", i+1, kindName(e), want)
		}
		if r != nil && v.raw == nil {
			v.raw = make([]json.RawMessage, len(elems))
		}
		if r != nil {
			v.raw[i] = r
		}
		v.Items = append(v.Items, s)
	}
	return v, nil
}

func parseString(raw json.RawMessage) (string, error) {
	if kind(raw) != '"' {
		return "", fmt.Errorf("is %s, want a string", kindName(raw))
	}
	// Fast path: most policy strings are plain ASCII without escapes.
	inner := raw[1 : len(raw)-1]
	plain := true
	for _, c := range inner {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

func checkSpelling(key string, known []string) error {
	for _, k := range known {
		if key != k && strings.EqualFold(key, k) {
			return fmt.Errorf("member %q must be spelled %q", key, k)
		}
	}
	return nil
}

// kind classifies a JSON value by its first byte: '{', '[', '"', 't', 'f',
// 'n' (null) or '0' for any number.
func kind(raw []byte) byte {
	if len(raw) == 0 {
		return 0
	}
	switch c := raw[0]; c {
	case '{', '[', '"', 't', 'f', 'n':
		return c
	}
	return '0'
}

func kindName(raw []byte) string {
	switch kind(raw) {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

type member struct {
	key string
	raw json.RawMessage
}

// splitObject splits a JSON object that encoding/json has already validated
// into its members in source order, in one linear pass (no recursion into
// values, so hostile nesting costs nothing here). A repeated name keeps its
// first position and takes the last value, matching encoding/json.
func splitObject(b []byte) ([]member, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, fmt.Errorf("is %s, want an object", kindName(b[i:]))
	}
	var out []member
	var seen map[string]int
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return out, nil
	}
	for i < len(b) {
		end := skipValue(b, i)
		key, err := parseString(b[i:end])
		if err != nil {
			return nil, err
		}
		i = skipSpace(b, end)
		i = skipSpace(b, i+1) // ':'
		end = skipValue(b, i)
		m := member{key: key, raw: b[i:end]}
		if j, dup := seen[key]; dup {
			out[j].raw = m.raw
		} else {
			if seen == nil {
				seen = map[string]int{}
			}
			seen[key] = len(out)
			out = append(out, m)
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] == '}' {
			break
		}
		i = skipSpace(b, i+1) // ','
	}
	return out, nil
}

// splitArray is splitObject for arrays.
func splitArray(b []byte) ([]json.RawMessage, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, fmt.Errorf("is %s, want an array", kindName(b[i:]))
	}
	var out []json.RawMessage
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return out, nil
	}
	for i < len(b) {
		end := skipValue(b, i)
		out = append(out, b[i:end])
		i = skipSpace(b, end)
		if i >= len(b) || b[i] == ']' {
			break
		}
		i = skipSpace(b, i+1)
	}
	return out, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the valid JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}
