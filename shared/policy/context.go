package policy

import "strings"

// Context is a request context for condition evaluation. It is open-world:
// a key is present with known values (Set), present with an unknown value
// (SetUnknown, or SetShape when the value is unknown but certainly matches a
// pattern), documented absent (SetAbsent, SetAbsentPrefix), or not known to
// the context at all, in which case nobody knows whether the request carries
// it. A condition that depends on such a key is Unknown unless the operator
// decides either way (an ...IfExists operator whose test passes for any
// value, for example). SetOthersAbsent closes the world: every key the
// context does not name is then absent, as in a fully described request.
//
// Keys are case-insensitive. Build one with NewContext; the zero Context
// knows no key and cannot be set.
type Context struct{ d *ctxData }

type ctxData struct {
	m map[string]ctxValue
	// layers are read, in order, for keys m does not name (Layered).
	layers []*ctxData
	// absentPrefixes are lower-case key prefixes ("aws:principaltag/") under
	// which every key that m does not name is absent.
	absentPrefixes []string
	closed         bool
	// literalVars makes ${...} literal text (a policy whose Version is not
	// 2012-10-17; see ForDocument).
	literalVars bool
}

// KeyState says what a context knows about one key.
type KeyState int8

const (
	// KeyUnknown: not known whether the request carries the key.
	KeyUnknown KeyState = iota
	// KeyAbsent: the request certainly lacks the key.
	KeyAbsent
	// KeyKnown: present with the values Get returns (none for an empty set).
	KeyKnown
	// KeyValueUnknown: present, value unknown; Get's shape, when not "",
	// is a pattern (* and ?) that every value matches.
	KeyValueUnknown
)

type ctxValue struct {
	state  KeyState
	values []string
	shape  string
}

// NewContext returns a context that knows no key yet.
func NewContext() Context { return Context{d: &ctxData{m: map[string]ctxValue{}}} }

// Set sets a key to known values (several for a multi-valued key; none for a
// present but empty set).
func (c Context) Set(key string, values ...string) {
	c.d.m[strings.ToLower(key)] = ctxValue{state: KeyKnown, values: append([]string(nil), values...)}
}

// SetUnknown marks a key present with an unknown value.
func (c Context) SetUnknown(key string) {
	c.d.m[strings.ToLower(key)] = ctxValue{state: KeyValueUnknown}
}

// SetShape marks a key present with an unknown single value that certainly
// matches pattern (IAM wildcards * and ?), such as a service's source ARN
// (arn:aws:s3:::* for every S3 bucket). A condition whose patterns cannot
// match the shape is then False, one whose pattern covers it is True.
func (c Context) SetShape(key, pattern string) {
	c.d.m[strings.ToLower(key)] = ctxValue{state: KeyValueUnknown, shape: pattern}
}

// Layered returns a new context that reads every key it does not set itself
// from the layers, first layer first. Layers are read live and never
// written: a template of documented keys built once can serve every request.
func Layered(layers ...Context) Context {
	c := NewContext()
	for _, l := range layers {
		if l.d != nil {
			c.d.layers = append(c.d.layers, l.d)
		}
	}
	return c
}

// SetAbsent marks keys documented absent from the request.
func (c Context) SetAbsent(keys ...string) {
	for _, k := range keys {
		c.d.m[strings.ToLower(k)] = ctxValue{state: KeyAbsent}
	}
}

// SetAbsentPrefix marks every key under prefix (for example
// "aws:PrincipalTag/") absent, except those set by name.
func (c Context) SetAbsentPrefix(prefix string) {
	c.d.absentPrefixes = append(c.d.absentPrefixes, strings.ToLower(prefix))
}

// SetOthersAbsent makes every key the context does not name absent.
func (c Context) SetOthersAbsent() { c.d.closed = true }

// ForDocument returns the context to evaluate d's conditions with: policy
// variables are substituted only in policies whose Version is 2012-10-17; in
// 2008-10-17 policies and policies without Version, ${...} is literal text.
// The IAM User Guide, "IAM policy elements: Variables and tags"
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html):
// "If you don't include the Version element and set it to an appropriate
// version date, variables like ${aws:username} are treated as literal
// strings in the policy." The copy shares c's keys.
func (c Context) ForDocument(d *Document) Context {
	literal := d == nil || strings.TrimSpace(d.Version) != "2012-10-17"
	if c.d == nil {
		c = NewContext()
	}
	if c.d.literalVars == literal {
		return c
	}
	cp := *c.d
	cp.literalVars = literal
	return Context{d: &cp}
}

// Get returns what the context knows about a key: its state, its values when
// known, and its shape when its value is unknown but constrained.
func (c Context) Get(key string) (state KeyState, values []string, shape string) {
	if c.d == nil {
		return KeyUnknown, nil, ""
	}
	k := strings.ToLower(key)
	if v, ok := c.d.lookup(k); ok {
		return v.state, v.values, v.shape
	}
	if c.d.absentByDefault(k) {
		return KeyAbsent, nil, ""
	}
	return KeyUnknown, nil, ""
}

// lookup finds a lower-case key set by name here or in a layer.
func (d *ctxData) lookup(k string) (ctxValue, bool) {
	if v, ok := d.m[k]; ok {
		return v, true
	}
	for _, l := range d.layers {
		if v, ok := l.lookup(k); ok {
			return v, true
		}
	}
	return ctxValue{}, false
}

// absentByDefault: a key named nowhere is absent when some layer is closed
// or marks its prefix absent.
func (d *ctxData) absentByDefault(k string) bool {
	if d.closed {
		return true
	}
	for _, p := range d.absentPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	for _, l := range d.layers {
		if l.absentByDefault(k) {
			return true
		}
	}
	return false
}

// Lookup returns a key's values; unknown is true for a key whose presence or
// value is not known, ok is false for a key documented absent (or absent
// from a closed context).
func (c Context) Lookup(key string) (values []string, unknown, ok bool) {
	st, v, _ := c.Get(key)
	switch st {
	case KeyKnown:
		return v, false, true
	case KeyAbsent:
		return nil, false, false
	}
	return nil, true, true
}
