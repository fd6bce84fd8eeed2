package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Equal reports whether two policies mean the same (string vs one-item array,
// object vs array Statement, account id vs its :root ARN, action case,
// key order). Either failing to parse is an error.
//
// What is compared: Version and Id exactly; statements as a multiset (their
// order does not matter, but a duplicated statement does: a change that
// duplicates one is a change); within a statement the Sid exactly, Effect
// ignoring case, Action/NotAction values as sets ignoring case,
// Resource/NotResource as exact sets, principals with "*" = {"AWS":"*"}, an
// account id = its root ARN in any partition, Service values ignoring case,
// and conditions as a set of (operator, key, value set) triples with operator
// and key ignoring case. Unknown members are compared as JSON values.
func Equal(a, b []byte) (bool, error) {
	da, err := Parse(a)
	if err != nil {
		return false, fmt.Errorf("first policy: %w", err)
	}
	db, err := Parse(b)
	if err != nil {
		return false, fmt.Errorf("second policy: %w", err)
	}
	return da.Equal(db), nil
}

// Equal is the semantic equality of Equal on parsed documents.
func (d *Document) Equal(o *Document) bool {
	if d.Version != o.Version || d.ID != o.ID || !equalUnknown(d.meta.unknown, o.meta.unknown) {
		return false
	}
	if len(d.Statements) != len(o.Statements) {
		return false
	}
	ka := make([]string, len(d.Statements))
	kb := make([]string, len(o.Statements))
	for i := range d.Statements {
		ka[i] = d.Statements[i].canonical()
		kb[i] = o.Statements[i].canonical()
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

// canonical returns a string that two statements share exactly when they
// mean the same under Equal's rules.
func (s *Statement) canonical() string {
	type cond struct {
		Op, Key string
		Values  []string
	}
	type form struct {
		Sid, Effect                   string
		Principal, NotPrincipal       []string
		HasPrincipal, HasNotPrincipal bool
		Action, NotAction             []string
		Resource, NotResource         []string
		HasAction, HasResource        [2]bool
		Condition                     []cond
		Unknown                       []string
	}
	f := form{
		Sid:          s.Sid,
		Effect:       strings.ToLower(s.Effect),
		Principal:    s.Principal.canonical(),
		NotPrincipal: s.NotPrincipal.canonical(),
		HasPrincipal: s.Principal != nil, HasNotPrincipal: s.NotPrincipal != nil,
		Action:      set(s.Action, strings.ToLower),
		NotAction:   set(s.NotAction, strings.ToLower),
		Resource:    set(s.Resource, nil),
		NotResource: set(s.NotResource, nil),
		HasAction:   [2]bool{s.Action != nil, s.NotAction != nil},
		HasResource: [2]bool{s.Resource != nil, s.NotResource != nil},
	}
	for _, b := range s.Condition {
		for _, k := range b.Keys {
			f.Condition = append(f.Condition, cond{strings.ToLower(b.Operator), strings.ToLower(k.Key), set(&k.Values, nil)})
		}
	}
	slices.SortFunc(f.Condition, func(x, y cond) int {
		if c := strings.Compare(x.Op, y.Op); c != 0 {
			return c
		}
		if c := strings.Compare(x.Key, y.Key); c != 0 {
			return c
		}
		return slices.Compare(x.Values, y.Values)
	})
	f.Condition = slices.CompactFunc(f.Condition, func(x, y cond) bool {
		return x.Op == y.Op && x.Key == y.Key && slices.Equal(x.Values, y.Values)
	})
	for name, raw := range s.meta.unknown {
		f.Unknown = append(f.Unknown, name+"="+canonicalJSON(raw))
	}
	slices.Sort(f.Unknown)
	b, _ := json.Marshal(f)
	return string(b)
}

// canonical lists a principal as sorted "type:value" entries; nil means absent.
func (p *Principal) canonical() []string {
	if p == nil {
		return nil
	}
	out := []string{}
	if p.Wildcard {
		out = append(out, "AWS:*")
	}
	add := func(kind string, v *Values, norm func(string) string) {
		if v == nil {
			return
		}
		for _, it := range v.Items {
			out = append(out, kind+":"+norm(it))
		}
	}
	add("AWS", p.AWS, func(v string) string {
		if acct, _, ok := accountPrincipal(v); ok {
			return acct
		}
		return v
	})
	add("Service", p.Service, strings.ToLower)
	add("Federated", p.Federated, func(v string) string { return v })
	add("CanonicalUser", p.CanonicalUser, func(v string) string { return v })
	slices.Sort(out)
	return slices.Compact(out)
}

func set(v *Values, norm func(string) string) []string {
	if v == nil {
		return nil
	}
	out := make([]string, 0, len(v.Items))
	for _, it := range v.Items {
		if norm != nil {
			it = norm(it)
		}
		out = append(out, it)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func equalUnknown(a, b map[string]json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || canonicalJSON(va) != canonicalJSON(vb) {
			return false
		}
	}
	return true
}

// canonicalJSON re-encodes a JSON value with sorted object keys, so unknown
// members compare by value, not by layout.
func canonicalJSON(raw json.RawMessage) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return string(raw)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return string(raw)
	}
	return buf.String()
}

// Digest is a short hex digest of the document's meaning: two documents
// share it exactly when Equal holds (up to a SHA-256 collision), whatever
// their layout. It names a policy in alerts and logs without its text.
func (d *Document) Digest() string {
	ks := make([]string, len(d.Statements))
	for i, s := range d.Statements {
		ks[i] = s.canonical()
	}
	slices.Sort(ks)
	unknown := make([]string, 0, len(d.meta.unknown))
	for name, raw := range d.meta.unknown {
		unknown = append(unknown, name+"="+canonicalJSON(raw))
	}
	slices.Sort(unknown)
	b, _ := json.Marshal(struct {
		Version, ID string
		Unknown     []string
		Statements  []string
	}{d.Version, d.ID, unknown, ks})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// Has reports whether the document holds a statement that means the same as
// s (Equal's rules for one statement, Sid included).
func (d *Document) Has(s *Statement) bool {
	k := s.canonical()
	for _, o := range d.Statements {
		if o.canonical() == k {
			return true
		}
	}
	return false
}
