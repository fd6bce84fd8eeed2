package template

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// matchPattern reports whether an event matches an EventBridge event pattern, with
// the semantics of the EventBridge documentation ("Content filtering in Amazon
// EventBridge event patterns") for the operators this project needs: exact values,
// value lists, nested objects, prefix, suffix, equals-ignore-case, anything-but
// (values, lists and prefix), exists, numeric and $or. Every key of the pattern must
// match (AND); the values of a list are alternatives (OR); when the event holds an
// array, the field matches if any element matches. An operator it does not know is an
// error, so a typo in template.yaml fails the test instead of silently matching
// nothing.
func matchPattern(pattern, event any) (bool, error) {
	p, ok := pattern.(map[string]any)
	if !ok {
		return false, fmt.Errorf("pattern must be an object, got %T", pattern)
	}
	ev, _ := event.(map[string]any)
	for key, want := range p {
		if key == "$or" {
			alts, ok := want.([]any)
			if !ok || len(alts) < 2 {
				return false, fmt.Errorf("$or needs a list of at least two patterns")
			}
			hit := false
			for _, alt := range alts {
				m, err := matchPattern(alt, ev)
				if err != nil {
					return false, err
				}
				hit = hit || m
			}
			if !hit {
				return false, nil
			}
			continue
		}
		got, present := ev[key]
		switch w := want.(type) {
		case map[string]any:
			sub, isObj := got.(map[string]any)
			if !present || !isObj {
				// A nested pattern can still be satisfied by an absent object when all
				// its leaves only ask for absence.
				sub = nil
			}
			m, err := matchPattern(w, sub)
			if err != nil || !m {
				return false, err
			}
		case []any:
			m, err := matchField(w, got, present)
			if err != nil || !m {
				return false, err
			}
		default:
			return false, fmt.Errorf("pattern field %q must be an object or a list, got %T", key, want)
		}
	}
	return true, nil
}

// matchField matches one leaf of the event against the alternatives of a pattern list.
func matchField(alts []any, got any, present bool) (bool, error) {
	if len(alts) == 0 {
		return false, fmt.Errorf("empty list in pattern")
	}
	values := []any{got}
	if arr, ok := got.([]any); ok {
		values = arr
	}
	for _, alt := range alts {
		if op, ok := alt.(map[string]any); ok {
			if len(op) != 1 {
				return false, fmt.Errorf("content filter must have exactly one operator: %v", op)
			}
			if e, ok := op["exists"]; ok {
				want, ok := e.(bool)
				if !ok {
					return false, fmt.Errorf("exists needs true or false, got %v", e)
				}
				if want == present {
					return true, nil
				}
				continue
			}
			if !present {
				continue
			}
			for _, v := range values {
				m, err := matchOperator(op, v)
				if err != nil {
					return false, err
				}
				if m {
					return true, nil
				}
			}
			continue
		}
		if !present {
			continue
		}
		for _, v := range values {
			if sameScalar(alt, v) {
				return true, nil
			}
		}
	}
	return false, nil
}

// matchOperator applies a one-key content filter other than exists to one value.
func matchOperator(op map[string]any, v any) (bool, error) {
	for name, arg := range op {
		s, isString := v.(string)
		switch name {
		case "prefix", "suffix", "equals-ignore-case":
			a, ok := arg.(string)
			if !ok {
				return false, fmt.Errorf("%s needs a string, got %v", name, arg)
			}
			if !isString {
				return false, nil
			}
			switch name {
			case "prefix":
				return strings.HasPrefix(s, a), nil
			case "suffix":
				return strings.HasSuffix(s, a), nil
			default:
				return strings.EqualFold(s, a), nil
			}
		case "anything-but":
			switch a := arg.(type) {
			case []any:
				for _, x := range a {
					if sameScalar(x, v) {
						return false, nil
					}
				}
				return true, nil
			case map[string]any:
				m, err := matchOperator(a, v)
				return !m && err == nil, err
			default:
				return !sameScalar(a, v), nil
			}
		case "numeric":
			return matchNumeric(arg, v)
		default:
			return false, fmt.Errorf("unsupported content filter %q", name)
		}
	}
	return false, nil
}

func matchNumeric(arg, v any) (bool, error) {
	conds, ok := arg.([]any)
	if !ok || len(conds)%2 != 0 || len(conds) == 0 {
		return false, fmt.Errorf("numeric needs operator/value pairs, got %v", arg)
	}
	n, isNum := v.(float64)
	if !isNum {
		return false, nil
	}
	for i := 0; i < len(conds); i += 2 {
		opName, _ := conds[i].(string)
		x, ok := conds[i+1].(float64)
		if !ok {
			return false, fmt.Errorf("numeric operand must be a number, got %v", conds[i+1])
		}
		var m bool
		switch opName {
		case "=":
			m = n == x
		case "<":
			m = n < x
		case "<=":
			m = n <= x
		case ">":
			m = n > x
		case ">=":
			m = n >= x
		default:
			return false, fmt.Errorf("unsupported numeric operator %q", opName)
		}
		if !m {
			return false, nil
		}
	}
	return true, nil
}

// sameScalar compares like EventBridge: by JSON type and value, so "5" is not 5.
func sameScalar(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case nil:
		return b == nil
	}
	return false
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON %s: %v", s, err)
	}
	return v
}

func TestMatchPattern(t *testing.T) {
	const event = `{"source":"aws.sns","detail-type":"AWS API Call via CloudTrail","detail":{
		"eventName":"CreateTopic","eventSource":"sns.amazonaws.com","count":5,"flag":true,
		"tags":["a","b"],"nothing":null,"nested":{"k":"v"}}}`
	cases := []struct {
		name, pattern string
		want          bool
	}{
		{"exact", `{"source":["aws.sns"]}`, true},
		{"exact other", `{"source":["aws.kms"]}`, false},
		{"one of list", `{"source":["aws.kms","aws.sns"]}`, true},
		{"nested and", `{"source":["aws.sns"],"detail":{"eventName":["CreateTopic"],"eventSource":["sns.amazonaws.com"]}}`, true},
		{"nested one wrong", `{"source":["aws.sns"],"detail":{"eventName":["CreateTopic"],"eventSource":["kms.amazonaws.com"]}}`, false},
		{"case sensitive", `{"detail":{"eventName":["createtopic"]}}`, false},
		{"equals-ignore-case", `{"detail":{"eventName":[{"equals-ignore-case":"createtopic"}]}}`, true},
		{"prefix", `{"detail":{"eventName":[{"prefix":"Create"}]}}`, true},
		{"prefix miss", `{"detail":{"eventName":[{"prefix":"Delete"}]}}`, false},
		{"suffix", `{"detail":{"eventSource":[{"suffix":".amazonaws.com"}]}}`, true},
		{"exists false on absent", `{"detail":{"errorCode":[{"exists":false}]}}`, true},
		{"exists true on absent", `{"detail":{"errorCode":[{"exists":true}]}}`, false},
		{"exists false on present", `{"detail":{"eventName":[{"exists":false}]}}`, false},
		{"exists true on present", `{"detail":{"eventName":[{"exists":true}]}}`, true},
		{"exists true on null", `{"detail":{"nothing":[{"exists":true}]}}`, true},
		{"null value", `{"detail":{"nothing":[null]}}`, true},
		{"anything-but value", `{"detail":{"eventName":[{"anything-but":"DeleteTopic"}]}}`, true},
		{"anything-but same", `{"detail":{"eventName":[{"anything-but":"CreateTopic"}]}}`, false},
		{"anything-but list", `{"detail":{"eventName":[{"anything-but":["DeleteTopic","CreateTopic"]}]}}`, false},
		{"anything-but prefix", `{"detail":{"eventName":[{"anything-but":{"prefix":"Create"}}]}}`, false},
		{"anything-but absent", `{"detail":{"errorCode":[{"anything-but":"x"}]}}`, false},
		{"array any element", `{"detail":{"tags":["b"]}}`, true},
		{"array no element", `{"detail":{"tags":["c"]}}`, false},
		{"number", `{"detail":{"count":[5]}}`, true},
		{"number is not string", `{"detail":{"count":["5"]}}`, false},
		{"numeric range", `{"detail":{"count":[{"numeric":[">",1,"<=",5]}]}}`, true},
		{"numeric out", `{"detail":{"count":[{"numeric":[">",5]}]}}`, false},
		{"bool", `{"detail":{"flag":[true]}}`, true},
		{"absent field", `{"detail":{"missing":["x"]}}`, false},
		{"absent object, absence asked", `{"detail":{"missing":{"x":[{"exists":false}]}}}`, true},
		{"absent object, value asked", `{"detail":{"missing":{"x":["y"]}}}`, false},
		{"object is not leaf", `{"detail":{"nested":["v"]}}`, false},
		{"$or one side", `{"$or":[{"source":["aws.kms"]},{"detail":{"eventName":["CreateTopic"]}}]}`, true},
		{"$or neither", `{"$or":[{"source":["aws.kms"]},{"detail":{"eventName":["DeleteTopic"]}}]}`, false},
		{"empty pattern", `{}`, true},
	}
	ev := decode(t, event)
	for _, c := range cases {
		got, err := matchPattern(decode(t, c.pattern), ev)
		if err != nil {
			t.Errorf("%s: unexpected error %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: pattern %s matched=%v, want %v", c.name, c.pattern, got, c.want)
		}
	}
}

func TestMatchPatternRejectsMalformedPatterns(t *testing.T) {
	for _, p := range []string{
		`{"source":"aws.sns"}`,
		`{"source":[]}`,
		`{"source":[{"wildcard-typo":"x"}]}`,
		`{"source":[{"prefix":"a","suffix":"b"}]}`,
		`{"source":[{"exists":"false"}]}`,
		`{"source":[{"numeric":[">"]}]}`,
		`{"$or":[{"source":["a"]}]}`,
		`["not an object"]`,
	} {
		if _, err := matchPattern(decode(t, p), map[string]any{"source": "aws.sns"}); err == nil {
			t.Errorf("pattern %s: want an error", p)
		}
	}
}
