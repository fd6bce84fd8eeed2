package trigger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// maxEventBytes bounds what is decoded at all. EventBridge events are at most
// 256 KB and Config sends oversized items by reference, so anything near a
// mebibyte is not an event either service sends.
const maxEventBytes = 1 << 20

// object is a JSON object whose fields are looked up by their exact name.
// encoding/json matches struct fields without regard to case, which would let
// "Source" stand in for "source"; EventBridge patterns match exact names, so
// the decoder does too.
type object struct {
	path string
	m    map[string]json.RawMessage
}

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
}

// parseTop checks size and syntax and returns the top-level object; path
// names it in errors ("event", or "invokingEvent" for Config's nested JSON).
func parseTop(raw []byte, path string) (object, error) {
	if len(raw) > maxEventBytes {
		return object{}, malformed("%s is %d bytes, over the %d-byte limit", path, len(raw), maxEventBytes)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return object{}, malformed("%s is empty", path)
	}
	var probe json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return object{}, malformed("%s: invalid JSON at byte %d: %v", path, se.Offset, err)
		}
		return object{}, malformed("%s: invalid JSON: %v", path, err)
	}
	o, ok, err := asObject(probe, path)
	if err != nil {
		return object{}, err
	}
	if !ok {
		return object{}, malformed("%s: want an object, got null", path)
	}
	return o, nil
}

// kind names the JSON type of a raw value for error messages.
func kind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
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

func isNull(raw json.RawMessage) bool { return kind(raw) == "null" || kind(raw) == "nothing" }

// asObject decodes raw as an object; null gives ok=false without error.
func asObject(raw json.RawMessage, path string) (object, bool, error) {
	if isNull(raw) {
		return object{}, false, nil
	}
	if kind(raw) != "an object" {
		return object{}, false, malformed("%s: want an object, got %s", path, kind(raw))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return object{}, false, malformed("%s: %v", path, err)
	}
	return object{path: path, m: m}, true, nil
}

func (o object) at(key string) string { return o.path + "." + key }

// str returns a string field; absent or null gives "".
func (o object) str(key string) (string, error) {
	raw, ok := o.m[key]
	if !ok || isNull(raw) {
		return "", nil
	}
	if kind(raw) != "a string" {
		return "", malformed("%s: want a string, got %s", o.at(key), kind(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", malformed("%s: %v", o.at(key), err)
	}
	return s, nil
}

// need returns a string field that must be present and non-empty.
func (o object) need(key string) (string, error) {
	s, err := o.str(key)
	if err == nil && s == "" {
		err = malformed("missing %s", o.at(key))
	}
	return s, err
}

// obj returns an object field; absent or null gives ok=false.
func (o object) obj(key string) (object, bool, error) {
	return asObject(o.m[key], o.at(key))
}

// boolean returns a boolean field; absent or null gives false.
func (o object) boolean(key string) (bool, error) {
	raw, ok := o.m[key]
	if !ok || isNull(raw) {
		return false, nil
	}
	if kind(raw) != "a boolean" {
		return false, malformed("%s: want a boolean, got %s", o.at(key), kind(raw))
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, malformed("%s: %v", o.at(key), err)
	}
	return b, nil
}

// list returns an array field; absent or null gives nil.
func (o object) list(key string) ([]json.RawMessage, error) {
	raw, ok := o.m[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	if kind(raw) != "an array" {
		return nil, malformed("%s: want an array, got %s", o.at(key), kind(raw))
	}
	var l []json.RawMessage
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, malformed("%s: %v", o.at(key), err)
	}
	return l, nil
}
