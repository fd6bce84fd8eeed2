package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Marshal encodes the document with 2-space indentation, keeping source order
// of members and unknown members. MarshalCompact is the same without spaces.
//
// Members a parsed document had are written where they were; members added by
// code (or all members of a statement built by code) follow in the canonical
// order Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource,
// NotResource, Condition. HTML characters are not escaped: KMS stores the
// policy as written and "<" in a Sid should stay readable.
func (d *Document) Marshal() ([]byte, error) {
	compact, err := d.MarshalCompact()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(compact) * 2)
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return nil, fmt.Errorf("indent policy: %w", err)
	}
	return out.Bytes(), nil
}

// MarshalCompact is Marshal without insignificant white space.
func (d *Document) MarshalCompact() ([]byte, error) {
	if len(d.Statements) == 0 {
		return nil, fmt.Errorf("policy has no Statement")
	}
	w := &writer{}
	w.buf = append(w.buf, '{')
	first := true
	sep := func(name string) {
		if !first {
			w.buf = append(w.buf, ',')
		}
		first = false
		w.str(name)
		w.buf = append(w.buf, ':')
	}
	written := map[string]bool{}
	emit := func(name string) {
		if written[name] {
			return
		}
		switch name {
		case "Version":
			if d.Version == "" && !inOrder(d.meta.order, name) {
				return
			}
			sep(name)
			w.str(d.Version)
		case "Id":
			if d.ID == "" && !inOrder(d.meta.order, name) {
				return
			}
			sep(name)
			w.str(d.ID)
		case "Statement":
			sep(name)
			if d.meta.stmtObject && len(d.Statements) == 1 {
				w.statement(d.Statements[0])
				break
			}
			w.buf = append(w.buf, '[')
			for i, s := range d.Statements {
				if i > 0 {
					w.buf = append(w.buf, ',')
				}
				w.statement(s)
			}
			w.buf = append(w.buf, ']')
		default:
			raw, ok := d.meta.unknown[name]
			if !ok {
				return
			}
			sep(name)
			w.raw(raw)
		}
		written[name] = true
	}
	for _, name := range d.meta.order {
		emit(name)
	}
	for _, name := range docMembers {
		emit(name)
	}
	w.buf = append(w.buf, '}')
	if w.err != nil {
		return nil, w.err
	}
	return w.buf, nil
}

func inOrder(order []string, name string) bool {
	for _, n := range order {
		if n == name {
			return true
		}
	}
	return false
}

// writer accumulates compact JSON; the first error sticks.
type writer struct {
	buf []byte
	err error
}

func (w *writer) statement(s *Statement) {
	if s == nil {
		w.err = fmt.Errorf("nil statement")
		return
	}
	w.buf = append(w.buf, '{')
	first := true
	sep := func(name string) {
		if !first {
			w.buf = append(w.buf, ',')
		}
		first = false
		w.str(name)
		w.buf = append(w.buf, ':')
	}
	written := map[string]bool{}
	emit := func(name string) {
		if written[name] {
			return
		}
		written[name] = true
		switch name {
		case "Sid":
			if s.Sid != "" || inOrder(s.meta.order, name) {
				sep(name)
				w.str(s.Sid)
			}
		case "Effect":
			if s.Effect != "" || inOrder(s.meta.order, name) {
				sep(name)
				w.str(s.Effect)
			}
		case "Principal":
			if s.Principal != nil {
				sep(name)
				w.principal(s.Principal)
			}
		case "NotPrincipal":
			if s.NotPrincipal != nil {
				sep(name)
				w.principal(s.NotPrincipal)
			}
		case "Action", "NotAction", "Resource", "NotResource":
			v := map[string]*Values{"Action": s.Action, "NotAction": s.NotAction, "Resource": s.Resource, "NotResource": s.NotResource}[name]
			if v != nil {
				sep(name)
				w.values(v)
			}
		case "Condition":
			if s.Condition != nil {
				sep(name)
				w.conditions(s.Condition)
			}
		default:
			if raw, ok := s.meta.unknown[name]; ok {
				sep(name)
				w.raw(raw)
			}
		}
	}
	for _, name := range s.meta.order {
		emit(name)
	}
	for _, name := range stmtMembers {
		emit(name)
	}
	w.buf = append(w.buf, '}')
}

func (w *writer) principal(p *Principal) {
	if p.Wildcard {
		w.str("*")
		return
	}
	w.buf = append(w.buf, '{')
	first := true
	written := map[string]bool{}
	emit := func(name string) {
		if written[name] {
			return
		}
		written[name] = true
		var v *Values
		switch name {
		case "AWS":
			v = p.AWS
		case "Service":
			v = p.Service
		case "Federated":
			v = p.Federated
		case "CanonicalUser":
			v = p.CanonicalUser
		}
		if v == nil {
			return
		}
		if !first {
			w.buf = append(w.buf, ',')
		}
		first = false
		w.str(name)
		w.buf = append(w.buf, ':')
		w.values(v)
	}
	for _, name := range p.meta.order {
		emit(name)
	}
	for _, name := range principalMembers {
		emit(name)
	}
	w.buf = append(w.buf, '}')
}

func (w *writer) conditions(c Conditions) {
	w.buf = append(w.buf, '{')
	for i, b := range c {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.str(b.Operator)
		w.buf = append(w.buf, ':', '{')
		for j, k := range b.Keys {
			if j > 0 {
				w.buf = append(w.buf, ',')
			}
			w.str(k.Key)
			w.buf = append(w.buf, ':')
			w.values(&k.Values)
		}
		w.buf = append(w.buf, '}')
	}
	w.buf = append(w.buf, '}')
}

// values writes a string-or-array member. A non-string scalar from the source
// is written as it was only while its text still matches the item, so code
// that edits Items never has a stale number written back.
func (w *writer) values(v *Values) {
	item := func(i int) {
		if i < len(v.raw) && len(v.raw) == len(v.Items) && v.raw[i] != nil && string(v.raw[i]) == v.Items[i] {
			w.buf = append(w.buf, v.raw[i]...)
			return
		}
		w.str(v.Items[i])
	}
	if v.Single && len(v.Items) == 1 {
		item(0)
		return
	}
	w.buf = append(w.buf, '[')
	for i := range v.Items {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		item(i)
	}
	w.buf = append(w.buf, ']')
}

func (w *writer) raw(r json.RawMessage) {
	var b bytes.Buffer
	if err := json.Compact(&b, r); err != nil {
		w.err = fmt.Errorf("unknown member: %w", err)
		return
	}
	w.buf = append(w.buf, b.Bytes()...)
}

const hexDigits = "0123456789abcdef"

// str appends s as a JSON string the way encoding/json does with
// SetEscapeHTML(false): invalid UTF-8 becomes U+FFFD, and U+2028/U+2029 are
// escaped so the output is also valid JavaScript.
func (w *writer) str(s string) {
	b := w.buf
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	b = append(b, '"')
	w.buf = b
}

// Clone returns a deep copy, so a planner can edit a policy while the
// evaluated original stays intact. Source layout (member order, unknown
// members, string-vs-array form) is kept.
func (d *Document) Clone() *Document {
	c := &Document{Version: d.Version, ID: d.ID, meta: docMeta{
		order:      append([]string(nil), d.meta.order...),
		unknown:    cloneRaw(d.meta.unknown),
		stmtObject: d.meta.stmtObject,
	}}
	c.Statements = make([]*Statement, len(d.Statements))
	for i, s := range d.Statements {
		c.Statements[i] = s.Clone()
	}
	return c
}

// Clone returns a deep copy of the statement.
func (s *Statement) Clone() *Statement {
	if s == nil {
		return nil
	}
	c := &Statement{
		Sid: s.Sid, Effect: s.Effect,
		Principal: s.Principal.clone(), NotPrincipal: s.NotPrincipal.clone(),
		Action: s.Action.clone(), NotAction: s.NotAction.clone(),
		Resource: s.Resource.clone(), NotResource: s.NotResource.clone(),
		meta: stmtMeta{order: append([]string(nil), s.meta.order...), unknown: cloneRaw(s.meta.unknown)},
	}
	if s.Condition != nil {
		c.Condition = make(Conditions, len(s.Condition))
		for i, b := range s.Condition {
			nb := ConditionBlock{Operator: b.Operator, Keys: make([]ConditionKey, len(b.Keys))}
			for j, k := range b.Keys {
				nb.Keys[j] = ConditionKey{Key: k.Key, Values: *k.Values.clone()}
			}
			c.Condition[i] = nb
		}
	}
	return c
}

func (p *Principal) clone() *Principal {
	if p == nil {
		return nil
	}
	return &Principal{
		Wildcard: p.Wildcard, AWS: p.AWS.clone(), Service: p.Service.clone(),
		Federated: p.Federated.clone(), CanonicalUser: p.CanonicalUser.clone(),
		meta: principalMeta{order: append([]string(nil), p.meta.order...)},
	}
}

func (v *Values) clone() *Values {
	if v == nil {
		return nil
	}
	c := &Values{Single: v.Single, Items: append([]string(nil), v.Items...)}
	if v.raw != nil {
		c.raw = append([]json.RawMessage(nil), v.raw...)
	}
	if v.Items != nil && c.Items == nil {
		c.Items = []string{}
	}
	return c
}

func cloneRaw(m map[string]json.RawMessage) map[string]json.RawMessage {
	if m == nil {
		return nil
	}
	c := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// String returns the compact JSON of the document, or an error text; for logs and test failures.
func (d *Document) String() string {
	b, err := d.MarshalCompact()
	if err != nil {
		return "<invalid policy: " + strings.TrimSpace(err.Error()) + ">"
	}
	return string(b)
}
