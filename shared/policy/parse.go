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
	// Work on one string copy of the input: plain strings in the result are
	// substrings of it, so parsing allocates little beyond the structure.
	src := string(data)
	// One validating pass lets the splitter below trust the input. Only a
	// rejected input pays for encoding/json, whose error is positioned and
	// worded as users of encoding/json expect.
	p := &parser{src: src, spans: make([]span, 0, len(src)/32+4)}
	if !scanJSON(src, &p.spans) {
		p.spans = nil // skipValue then scans
		var probe json.RawMessage
		if err := json.Unmarshal(data, &probe); err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		// Unreachable while validJSON matches json.Valid (FuzzValidJSON):
		// encoding/json accepted it, and the splitter needs only that.
	}
	p.members = make([]member, 0, 64)
	members, err := p.splitObject(src, 0)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	d := &Document{src: src}
	var stmt member
	for _, m := range members {
		if err := checkSpelling(m.key, docMembers); err != nil {
			return nil, err
		}
		d.meta.order = append(d.meta.order, m.key)
		switch m.key {
		case "Version":
			if d.Version, err = parseString(m.raw); err != nil {
				//lint:ignore ST1005 the message starts with the policy member it is about
				return nil, fmt.Errorf("Version: %w", err)
			}
		case "Id":
			if d.ID, err = parseString(m.raw); err != nil {
				//lint:ignore ST1005 the message starts with the policy member it is about
				return nil, fmt.Errorf("Id: %w", err)
			}
		case "Statement":
			stmt = m
		default:
			if d.meta.unknown == nil {
				d.meta.unknown = map[string]json.RawMessage{}
			}
			d.meta.unknown[m.key] = json.RawMessage(m.raw)
		}
	}
	stmtRaw := stmt.raw
	if stmtRaw == "" {
		return nil, errors.New("policy has no Statement")
	}
	var elems []member
	switch kind(stmtRaw) {
	case '{':
		d.meta.stmtObject = true
		elems = []member{stmt}
	case '[':
		if elems, err = p.splitArray(stmtRaw, stmt.off); err != nil {
			return nil, fmt.Errorf("Statement: %w", err)
		}
		if len(elems) == 0 {
			return nil, errors.New("Statement is an empty array")
		}
	default:
		return nil, fmt.Errorf("Statement is %s, want an object or an array of objects", kindName(stmtRaw))
	}
	d.Statements = make([]*Statement, 0, len(elems))
	slab := make([]Statement, len(elems))
	for i, e := range elems {
		s, err := p.parseStatement(e, &slab[i])
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", i+1, err)
		}
		d.Statements = append(d.Statements, s)
	}
	return d, nil
}

// parser holds slabs that the many small objects of one policy are cut from,
// and the extent of every object and array of src, found while validating,
// so that splitting an object jumps over its members' values instead of
// reading them once per level of nesting.
type parser struct {
	src        string
	spans      []span
	members    []member // arena for splitObject results
	values     []Values
	principals []Principal
	strs       []string
}

// release gives the member arena back down to mark once the members split
// after it have been read: a statement's members are dead once the statement
// is built, so the arena stays the size of one statement, not of the policy.
// splitObject caps the capacity of what it returns, so the members of an
// enclosing object, below mark, are never overwritten.
func (p *parser) release(mark int) {
	p.members = p.members[:mark]
}

func (p *parser) newPrincipal() *Principal {
	if len(p.principals) == 0 {
		p.principals = make([]Principal, 32)
	}
	v := &p.principals[0]
	p.principals = p.principals[1:]
	return v
}

func (p *parser) newValues() *Values {
	if len(p.values) == 0 {
		p.values = make([]Values, 64)
	}
	v := &p.values[0]
	p.values = p.values[1:]
	return v
}

// newItems returns an empty slice with room for n strings. Its capacity is
// exactly n, so a caller's later append copies instead of overwriting a
// neighbour in the slab.
func (p *parser) newItems(n int) []string {
	if n > 64 {
		return make([]string, 0, n)
	}
	if len(p.strs) < n {
		p.strs = make([]string, 512)
	}
	v := p.strs[:0:n]
	p.strs = p.strs[n:]
	return v
}

func (p *parser) parseStatement(e member, s *Statement) (*Statement, error) {
	raw := e.raw
	if kind(raw) != '{' {
		return nil, fmt.Errorf("is %s, want an object", kindName(raw))
	}
	defer p.release(len(p.members))
	members, err := p.splitObject(raw, e.off)
	if err != nil {
		return nil, err
	}
	hasEffect := false
	s.meta.order = p.newItems(len(members))
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
				//lint:ignore ST1005 the message starts with the policy member it is about
				return nil, fmt.Errorf("Effect %q is not Allow or Deny", s.Effect)
			}
		case "Principal":
			s.Principal, err = p.parsePrincipal(m)
		case "NotPrincipal":
			s.NotPrincipal, err = p.parsePrincipal(m)
		case "Action":
			s.Action, err = p.parseValues(m, false)
		case "NotAction":
			s.NotAction, err = p.parseValues(m, false)
		case "Resource":
			s.Resource, err = p.parseValues(m, false)
		case "NotResource":
			s.NotResource, err = p.parseValues(m, false)
		case "Condition":
			s.Condition, err = p.parseConditions(m)
		default:
			if s.meta.unknown == nil {
				s.meta.unknown = map[string]json.RawMessage{}
			}
			s.meta.unknown[m.key] = json.RawMessage(m.raw)
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

func (p *parser) parsePrincipal(e member) (*Principal, error) {
	raw := e.raw
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
	defer p.release(len(p.members))
	members, err := p.splitObject(raw, e.off)
	if err != nil {
		return nil, err
	}
	pr := p.newPrincipal()
	pr.meta.order = p.newItems(len(members))
	for _, m := range members {
		if err := checkSpelling(m.key, principalMembers); err != nil {
			return nil, err
		}
		v, err := p.parseValues(m, false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.key, err)
		}
		switch m.key {
		case "AWS":
			pr.AWS = v
		case "Service":
			pr.Service = v
		case "Federated":
			pr.Federated = v
		case "CanonicalUser":
			pr.CanonicalUser = v
		default:
			// An unknown principal type cannot be evaluated; keeping it as an
			// opaque member would make the evaluator under- or over-grant.
			return nil, fmt.Errorf("unknown principal type %q", m.key)
		}
		pr.meta.order = append(pr.meta.order, m.key)
	}
	return pr, nil
}

func (p *parser) parseConditions(e member) (Conditions, error) {
	raw := e.raw
	if kind(raw) != '{' {
		return nil, fmt.Errorf("is %s, want an object", kindName(raw))
	}
	defer p.release(len(p.members))
	ops, err := p.splitObject(raw, e.off)
	if err != nil {
		return nil, err
	}
	opsEnd := len(p.members)
	c := make(Conditions, 0, len(ops))
	for _, op := range ops {
		if kind(op.raw) != '{' {
			return nil, fmt.Errorf("%s: is %s, want an object of condition keys", op.key, kindName(op.raw))
		}
		keys, err := p.splitObject(op.raw, op.off)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op.key, err)
		}
		b := ConditionBlock{Operator: op.key, Keys: make([]ConditionKey, 0, len(keys))}
		for _, k := range keys {
			v, err := p.parseValues(k, true)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", op.key, k.key, err)
			}
			b.Keys = append(b.Keys, ConditionKey{Key: k.key, Values: *v})
		}
		c = append(c, b)
		p.release(opsEnd)
	}
	return c, nil
}

// parseValues reads a string-or-array member. Condition values (scalars=true)
// may also be numbers and booleans; their source text is kept in raw so that
// Marshal writes 42 back as 42, not "42".
func (p *parser) parseValues(e member, scalars bool) (*Values, error) {
	raw := e.raw
	want := "a string or an array of strings"
	if scalars {
		want = "a string, number, boolean or an array of them"
	}
	one := func(r string) (string, json.RawMessage, bool, error) {
		switch kind(r) {
		case '"':
			s, err := parseString(r)
			return s, nil, err == nil, err
		case 't', 'f', '0':
			if scalars {
				return r, json.RawMessage(r), true, nil
			}
		}
		return "", nil, false, nil
	}
	v := p.newValues()
	if kind(raw) != '[' {
		s, r, ok, err := one(raw)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("is %s, want %s", kindName(raw), want)
		}
		v.Items, v.Single = append(p.newItems(1), s), true
		if r != nil {
			v.raw = []json.RawMessage{r}
		}
		return v, nil
	}
	elems, err := p.splitArray(raw, e.off)
	if err != nil {
		return nil, err
	}
	v.Items = p.newItems(len(elems))
	for i, e := range elems {
		s, r, ok, err := one(e.raw)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("item %d is %s, want %s", i+1, kindName(e.raw), want)
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

func parseString(raw string) (string, error) {
	if kind(raw) != '"' {
		return "", fmt.Errorf("is %s, want a string", kindName(raw))
	}
	// Fast path: most policy strings are plain ASCII without escapes.
	inner := raw[1 : len(raw)-1]
	plain := true
	for i := 0; i < len(inner); i++ {
		if c := inner[i]; c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return inner, nil
	}
	var s string
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return "", err
	}
	return s, nil
}

// parseKey is parseString that returns the package's own copy of the member
// names it knows, saving an allocation per member.
func parseKey(raw string) (string, error) {
	if len(raw) >= 2 {
		switch raw[1 : len(raw)-1] {
		case "Version":
			return "Version", nil
		case "Id":
			return "Id", nil
		case "Statement":
			return "Statement", nil
		case "Sid":
			return "Sid", nil
		case "Effect":
			return "Effect", nil
		case "Principal":
			return "Principal", nil
		case "NotPrincipal":
			return "NotPrincipal", nil
		case "Action":
			return "Action", nil
		case "NotAction":
			return "NotAction", nil
		case "Resource":
			return "Resource", nil
		case "NotResource":
			return "NotResource", nil
		case "Condition":
			return "Condition", nil
		case "AWS":
			return "AWS", nil
		case "Service":
			return "Service", nil
		case "StringEquals":
			return "StringEquals", nil
		case "ArnLike":
			return "ArnLike", nil
		case "aws:SourceAccount":
			return "aws:SourceAccount", nil
		case "aws:SourceArn":
			return "aws:SourceArn", nil
		}
	}
	return parseString(raw)
}

func checkSpelling(key string, known []string) error {
	// Almost every member is spelt right, and one spelt exactly like a known
	// name cannot fold to a different known name.
	for _, k := range known {
		if key == k {
			return nil
		}
	}
	for _, k := range known {
		if key != k && strings.EqualFold(key, k) {
			return fmt.Errorf("member %q must be spelled %q", key, k)
		}
	}
	return nil
}

// kind classifies a JSON value by its first byte: '{', '[', '"', 't', 'f',
// 'n' (null) or '0' for any number.
func kind(raw string) byte {
	if len(raw) == 0 {
		return 0
	}
	switch c := raw[0]; c {
	case '{', '[', '"', 't', 'f', 'n':
		return c
	}
	return '0'
}

func kindName(raw string) string {
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

// member is an object member or (key "") an array element: its value's
// text and where that starts in the parser's src.
type member struct {
	key string
	raw string
	off int
}

// splitObject splits a JSON object that encoding/json has already validated
// into its members in source order, in one linear pass (no recursion into
// values, so hostile nesting costs nothing here). A repeated name keeps its
// first position and takes the last value, matching encoding/json.
func (p *parser) splitObject(b string, base int) ([]member, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, fmt.Errorf("is %s, want an object", kindName(b[i:]))
	}
	// Results are cut from the parser's arena. Appending past a caller's
	// slice is safe: callers never append to what they were given.
	start := len(p.members)
	var seen map[string]int // only for large objects; small ones scan
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil, nil
	}
	for i < len(b) {
		end := skipString(b, i) // keys are strings
		key, err := parseKey(b[i:end])
		if err != nil {
			return nil, err
		}
		i = skipSpace(b, end)
		i = skipSpace(b, i+1) // ':'
		end = p.skipValue(b, i, base)
		raw := b[i:end]
		out := p.members[start:]
		j := -1
		if seen != nil {
			if k, ok := seen[key]; ok {
				j = k
			}
		} else {
			for k := range out {
				if out[k].key == key {
					j = k
					break
				}
			}
		}
		switch {
		case j >= 0:
			out[j].raw, out[j].off = raw, base+i
		default:
			p.members = append(p.members, member{key: key, raw: raw, off: base + i})
			out = p.members[start:]
			if seen != nil {
				seen[key] = len(out) - 1
			} else if len(out) == 32 {
				// Beyond this a quadratic scan would let a hostile object
				// with many members cost too much.
				seen = make(map[string]int, 64)
				for k, m := range out {
					seen[m.key] = k
				}
			}
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] == '}' {
			break
		}
		i = skipSpace(b, i+1) // ','
	}
	out := p.members[start:len(p.members):len(p.members)]
	return out, nil
}

// splitArray is splitObject for arrays; the elements have no key.
func (p *parser) splitArray(b string, base int) ([]member, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, fmt.Errorf("is %s, want an array", kindName(b[i:]))
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return nil, nil
	}
	start := len(p.members)
	for i < len(b) {
		end := p.skipValue(b, i, base)
		p.members = append(p.members, member{raw: b[i:end], off: base + i})
		i = skipSpace(b, end)
		if i >= len(b) || b[i] == ']' {
			break
		}
		i = skipSpace(b, i+1)
	}
	return p.members[start:len(p.members):len(p.members)], nil
}

func skipSpace(b string, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the valid JSON value starting at b[i], where
// b starts at base in src. An object or array ends where validation found
// its end.
func (p *parser) skipValue(b string, i, base int) int {
	if i < len(b) && (b[i] == '{' || b[i] == '[') && p.spans != nil {
		if end, ok := p.spanEnd(base + i); ok && end-base <= len(b) {
			return end - base
		}
	}
	return skipValue(b, i)
}

// spanEnd returns the end in src of the object or array that starts at open.
func (p *parser) spanEnd(open int) (int, bool) {
	lo, hi := 0, len(p.spans)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int(p.spans[m].open) < open {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(p.spans) && int(p.spans[lo].open) == open {
		return int(p.spans[lo].end), true
	}
	return 0, false
}

// skipValue returns the end of the valid JSON value starting at b[i].
func skipValue(b string, i int) int {
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

func skipString(b string, i int) int {
	for i++; i < len(b); {
		j := strings.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		i += j
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for k := i - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
	return i
}
