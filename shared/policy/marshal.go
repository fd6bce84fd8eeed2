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
// policy as written and "<" in a Sid should stay readable. The layout is the
// one json.Indent produces.
func (d *Document) Marshal() ([]byte, error) { return d.marshal(true) }

// MarshalCompact is Marshal without insignificant white space.
func (d *Document) MarshalCompact() ([]byte, error) { return d.marshal(false) }

// MarshalWithin returns Marshal's output when it has at most limit bytes,
// else MarshalCompact's (which may still be longer). The compact form is
// cut from the indented one, which costs a fifth of marshalling again.
func (d *Document) MarshalWithin(limit int) ([]byte, error) {
	b, err := d.marshal(true)
	if err != nil || len(b) <= limit {
		return b, err
	}
	return compactIndented(b), nil
}

// compactIndented drops the white space outside strings from marshal's
// indented output, giving marshal's compact output: the two layouts differ
// only there, unknown members included (json.Indent versus json.Compact).
func compactIndented(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		switch c := b[i]; c {
		case ' ', '\n', '\t', '\r':
			i++
		case '"':
			j := i + 1
			for {
				k := bytes.IndexByte(b[j:], '"')
				if k < 0 {
					j = len(b)
					break
				}
				j += k + 1
				// The quote is escaped when an odd number of backslashes precede it.
				n := 0
				for q := j - 2; q > i && b[q] == '\\'; q-- {
					n++
				}
				if n%2 == 0 {
					break
				}
			}
			out = append(out, b[i:j]...)
			i = j
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}

func (d *Document) marshal(indent bool) ([]byte, error) {
	if len(d.Statements) == 0 {
		return nil, fmt.Errorf("policy has no Statement")
	}
	w := &writer{indent: indent, buf: make([]byte, 0, 1024+len(d.Statements)*512)}
	w.open('{')
	var done uint16
	emit := func(name string) {
		switch name {
		case "Version":
			if done&1 != 0 || (d.Version == "" && !inOrder(d.meta.order, name)) {
				return
			}
			done |= 1
			w.key(name)
			w.str(d.Version)
		case "Id":
			if done&2 != 0 || (d.ID == "" && !inOrder(d.meta.order, name)) {
				return
			}
			done |= 2
			w.key(name)
			w.str(d.ID)
		case "Statement":
			if done&4 != 0 {
				return
			}
			done |= 4
			w.key(name)
			if d.meta.stmtObject && len(d.Statements) == 1 {
				w.statement(d.Statements[0])
				break
			}
			w.open('[')
			for _, s := range d.Statements {
				w.elem()
				w.statement(s)
			}
			w.close(']')
		default:
			if raw, ok := d.meta.unknown[name]; ok {
				w.key(name)
				w.raw(raw)
			}
		}
	}
	for _, name := range d.meta.order {
		emit(name)
	}
	for _, name := range docMembers {
		emit(name)
	}
	w.close('}')
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

// writer accumulates JSON, compact or in json.Indent's layout; the first
// error sticks. first[depth] tracks whether a container has members yet.
type writer struct {
	buf    []byte
	err    error
	indent bool
	first  []bool
}

func (w *writer) open(c byte) {
	w.buf = append(w.buf, c)
	w.first = append(w.first, true)
}

// elem starts a member or element of the innermost container.
func (w *writer) elem() {
	n := len(w.first) - 1
	if !w.first[n] {
		w.buf = append(w.buf, ',')
	}
	w.first[n] = false
	w.newline(len(w.first))
}

func (w *writer) close(c byte) {
	n := len(w.first) - 1
	empty := w.first[n]
	w.first = w.first[:n]
	if !empty {
		w.newline(n)
	}
	w.buf = append(w.buf, c)
}

func (w *writer) newline(depth int) {
	if !w.indent {
		return
	}
	w.buf = append(w.buf, '\n')
	for range depth {
		w.buf = append(w.buf, ' ', ' ')
	}
}

func (w *writer) key(name string) {
	w.elem()
	w.str(name)
	w.buf = append(w.buf, ':')
	if w.indent {
		w.buf = append(w.buf, ' ')
	}
}

// Bits for the statement members already written.
var stmtBit = map[string]uint16{}

func init() {
	for i, n := range stmtMembers {
		stmtBit[n] = 1 << i
	}
}

func (w *writer) statement(s *Statement) {
	if s == nil {
		w.err = fmt.Errorf("nil statement")
		return
	}
	w.open('{')
	var done uint16
	emit := func(name string) {
		bit := stmtBit[name]
		if done&bit != 0 {
			return
		}
		done |= bit
		switch name {
		case "Sid":
			if s.Sid != "" || inOrder(s.meta.order, name) {
				w.key(name)
				w.str(s.Sid)
			}
		case "Effect":
			if s.Effect != "" || inOrder(s.meta.order, name) {
				w.key(name)
				w.str(s.Effect)
			}
		case "Principal":
			if s.Principal != nil {
				w.key(name)
				w.principal(s.Principal)
			}
		case "NotPrincipal":
			if s.NotPrincipal != nil {
				w.key(name)
				w.principal(s.NotPrincipal)
			}
		case "Action":
			w.member(name, s.Action)
		case "NotAction":
			w.member(name, s.NotAction)
		case "Resource":
			w.member(name, s.Resource)
		case "NotResource":
			w.member(name, s.NotResource)
		case "Condition":
			if s.Condition != nil {
				w.key(name)
				w.conditions(s.Condition)
			}
		default:
			if raw, ok := s.meta.unknown[name]; ok {
				w.key(name)
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
	w.close('}')
}

func (w *writer) member(name string, v *Values) {
	if v != nil {
		w.key(name)
		w.values(v)
	}
}

func (w *writer) principal(p *Principal) {
	if p.Wildcard {
		w.str("*")
		return
	}
	w.open('{')
	var done uint8
	emit := func(name string) {
		var v *Values
		var bit uint8
		switch name {
		case "AWS":
			v, bit = p.AWS, 1
		case "Service":
			v, bit = p.Service, 2
		case "Federated":
			v, bit = p.Federated, 4
		case "CanonicalUser":
			v, bit = p.CanonicalUser, 8
		}
		if done&bit != 0 {
			return
		}
		done |= bit
		w.member(name, v)
	}
	for _, name := range p.meta.order {
		emit(name)
	}
	for _, name := range principalMembers {
		emit(name)
	}
	w.close('}')
}

func (w *writer) conditions(c Conditions) {
	w.open('{')
	for _, b := range c {
		w.key(b.Operator)
		w.open('{')
		for j := range b.Keys {
			w.member(b.Keys[j].Key, &b.Keys[j].Values)
		}
		w.close('}')
	}
	w.close('}')
}

// values writes a string-or-array member. A non-string scalar from the source
// is written as it was only while its text still matches the item, so code
// that edits Items never has a stale number written back.
func (w *writer) values(v *Values) {
	item := func(i int) {
		if len(v.raw) == len(v.Items) && v.raw[i] != nil && string(v.raw[i]) == v.Items[i] {
			w.buf = append(w.buf, v.raw[i]...)
			return
		}
		w.str(v.Items[i])
	}
	if v.Single && len(v.Items) == 1 {
		item(0)
		return
	}
	w.open('[')
	for i := range v.Items {
		w.elem()
		item(i)
	}
	w.close(']')
}

// raw writes an unknown member's value, re-laid-out like the rest.
func (w *writer) raw(r json.RawMessage) {
	var b bytes.Buffer
	var err error
	if w.indent {
		err = json.Indent(&b, r, strings.Repeat("  ", len(w.first)), "  ")
	} else {
		err = json.Compact(&b, r)
	}
	if err != nil {
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

// ShallowClone returns a copy of d with its own statement list, whose
// statements are still d's: a planner may append statements to the copy and
// replace them, and replaces a statement by its Clone before editing it,
// which leaves d intact at the cost of copying only what is edited.
func (d *Document) ShallowClone() *Document {
	c := *d
	c.src = "" // the copy is about to differ from the text
	c.Statements = append(make([]*Statement, 0, len(d.Statements)+4), d.Statements...)
	return &c
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
