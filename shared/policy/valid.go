package policy

// maxDepth is encoding/json's nesting limit; validJSON rejects what it
// rejects so that the error message can come from encoding/json itself.
const maxDepth = 10000

// strSpecial marks the bytes that end the fast scan of a JSON string: the
// closing quote, a backslash, and control characters (invalid in strings).
var strSpecial = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// span is where an object or array of the parser's src starts and ends
// (one past its closing bracket).
type span struct{ open, end int }

// validJSON reports whether s is exactly one JSON value with optional
// surrounding white space, accepting precisely what json.Valid accepts (the
// fuzz test FuzzValidJSON holds it to that). It is a hand-written scanner
// because json.Valid's per-byte state machine costs as much as the rest of
// Parse; like json.Valid it does not check UTF-8, and it does not recurse,
// so hostile nesting costs a few bytes of heap per level.
func validJSON(s string) bool {
	var spans []span
	return scanJSON(s, &spans)
}

// scanJSON is validJSON that also appends the span of every object and
// array to *spans, in the order they open (so sorted by start).
func scanJSON(s string, spans *[]span) bool {
	var stack []int // indexes in *spans of the open containers
	i := skipSpace(s, 0)
	for {
		// A value starts at i.
		if i >= len(s) {
			return false
		}
		switch c := s[i]; c {
		case '{', '[':
			if len(stack) >= maxDepth {
				return false
			}
			stack = append(stack, len(*spans))
			*spans = append(*spans, span{open: i})
			i = skipSpace(s, i+1)
			if i < len(s) && s[i] == c+2 { // '{'+2 == '}', '['+2 == ']'
				stack = stack[:len(stack)-1]
				i++
				(*spans)[len(*spans)-1].end = i
				break
			}
			if c == '{' {
				if i = objectKey(s, i); i < 0 {
					return false
				}
			}
			continue
		case '"':
			if i = scanString(s, i); i < 0 {
				return false
			}
		case 't':
			if len(s)-i < 4 || s[i:i+4] != "true" {
				return false
			}
			i += 4
		case 'f':
			if len(s)-i < 5 || s[i:i+5] != "false" {
				return false
			}
			i += 5
		case 'n':
			if len(s)-i < 4 || s[i:i+4] != "null" {
				return false
			}
			i += 4
		default:
			if i = scanNumber(s, i); i < 0 {
				return false
			}
		}
		// A value ended at i: close containers, or move to the next member.
		for {
			i = skipSpace(s, i)
			if len(stack) == 0 {
				return i == len(s)
			}
			if i >= len(s) {
				return false
			}
			top := stack[len(stack)-1]
			kind := s[(*spans)[top].open]
			if s[i] == kind+2 {
				stack = stack[:len(stack)-1]
				i++
				(*spans)[top].end = i
				continue
			}
			if s[i] != ',' {
				return false
			}
			i = skipSpace(s, i+1)
			if kind == '{' {
				if i = objectKey(s, i); i < 0 {
					return false
				}
			}
			break
		}
	}
}

// objectKey scans `"key" :` at i and returns the start of the value after
// it, or -1.
func objectKey(s string, i int) int {
	if i >= len(s) || s[i] != '"' {
		return -1
	}
	if i = scanString(s, i); i < 0 {
		return -1
	}
	i = skipSpace(s, i)
	if i >= len(s) || s[i] != ':' {
		return -1
	}
	return skipSpace(s, i+1)
}

// scanString returns the end of the JSON string starting at s[i] (a quote),
// or -1 when it is not a valid string.
func scanString(s string, i int) int {
	for i++; i < len(s); {
		c := s[i]
		if !strSpecial[c] {
			i++
			continue
		}
		switch c {
		case '"':
			return i + 1
		case '\\':
			if i+1 >= len(s) {
				return -1
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(s)-i < 6 {
					return -1
				}
				for _, h := range []byte(s[i+2 : i+6]) {
					if !isHex(h) {
						return -1
					}
				}
				i += 6
			default:
				return -1
			}
		default: // a control character
			return -1
		}
	}
	return -1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanNumber returns the end of the JSON number starting at s[i], or -1.
// Grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(s string, i int) int {
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		i = digits(s, i)
	default:
		return -1
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(s string, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}
