package policy

import (
	"bytes"
	"strings"
	"testing"
)

// validJSONCases are the corners of the JSON grammar where a hand-written
// scanner goes wrong: numbers, escapes, literals, control characters,
// separators, white space and nesting.
var validJSONCases = []string{
	``, ` `, `{}`, `[]`, ` {} `, "\t[\r\n]\n", `{`, `}`, `[`, `]`, `{]`, `[}`, `{}}`, `[]]`, `{} {}`, `{}x`,
	`0`, `-0`, `01`, `-`, `-a`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1e5`, `1E-5`, `1.5e+10`, `-12.30e0`, `1x`, `+1`, `0.0.0`,
	`true`, `false`, `null`, `tru`, `nul`, `falsey`, `True`, `[true,false,null]`, `[truefalse]`,
	`""`, `"a"`, `"\""`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u00e9"`, `"\u00E9"`, `"\u00g9"`, `"\u00e"`, `"\x"`, `"\`, `"abc`,
	"\"\x01\"", "\"\x1f\"", "\"\x7f\"", "\"\xff\xfe\"", "\"é\"", "\ufeff{}",
	`{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`, `{,"a":1}`, `{"a":1,"a":2}`, `{"":""}`,
	`[1,]`, `[,1]`, `[1 2]`, `[1,,2]`, `[[],[[]],{}]`, `{"a":[{"b":{"c":[1,"x",null]}}]}`, `{"a":{"b":{}}}`, `[{}]`,
	`{"Statement":[{"Effect":"Allow","Action":"a"}]}`, `{"Statement":[}`, `{"Statement":[]} x`,
	strings.Repeat(`[`, maxDepth) + strings.Repeat(`]`, maxDepth),
	strings.Repeat(`[`, maxDepth+1) + strings.Repeat(`]`, maxDepth+1),
	strings.Repeat(`{"a":`, maxDepth) + `1` + strings.Repeat(`}`, maxDepth),
	strings.Repeat(`{"a":`, maxDepth+1) + `1` + strings.Repeat(`}`, maxDepth+1),
}

func TestValidJSON(t *testing.T) {
	for _, s := range validJSONCases {
		checkScan(t, []byte(s))
	}
	d := bigKeyPolicy()
	var spans []span
	if !scanJSON(string(d), &spans) || len(spans) < 400 {
		t.Fatalf("%d spans in the benchmark policy", len(spans))
	}
	checkScan(t, d)
	// Both answers occur, so the table tests something.
	if !validJSON(`{"a":[1,"x",null]}`) || validJSON(`{"a":[1,"x",null}`) {
		t.Error("validJSON does not tell valid from invalid")
	}
}

func TestParsedFrom(t *testing.T) {
	data := []byte(`{"Statement":[{"Effect":"Allow","Action":"a"},{"Effect":"Deny","Action":"b"}]}`)
	d, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !d.ParsedFrom(data) || !d.ParsedFrom([]byte(string(data))) {
		t.Error("a parsed document does not claim its own text")
	}
	other := []byte(`{"Statement":[{"Effect":"Allow","Action":"a"},{"Effect":"Deny","Action":"c"}]}`)
	for _, c := range []struct {
		name string
		d    *Document
		data []byte
	}{
		{"other text", d, other},
		{"empty text", d, nil},
		{"nil document", nil, data},
		{"clone", d.Clone(), data},
		{"shallow clone", d.ShallowClone(), data},
		{"built by code", &Document{Statements: d.Statements}, data},
	} {
		if c.d.ParsedFrom(c.data) {
			t.Errorf("%s: ParsedFrom = true", c.name)
		}
	}
}

func TestShallowClone(t *testing.T) {
	d, err := Parse([]byte(`{"Version":"2012-10-17","x":1,"Statement":{"Effect":"Allow","Action":"a"}}`))
	if err != nil {
		t.Fatal(err)
	}
	before := d.String()
	c := d.ShallowClone()
	if c.String() != before || c.Statements[0] != d.Statements[0] {
		t.Fatalf("copy %s differs from %s", c, before)
	}
	c.Statements[0] = c.Statements[0].Clone()
	c.Statements[0].Effect = "Deny"
	c.Statements = append(c.Statements, &Statement{Effect: "Allow", Action: &Values{Items: []string{"b"}, Single: true}})
	if d.String() != before {
		t.Errorf("editing the copy changed the original: %s", d)
	}
	if want := `{"Version":"2012-10-17","x":1,"Statement":[{"Effect":"Deny","Action":"a"},{"Effect":"Allow","Action":"b"}]}`; c.String() != want {
		t.Errorf("copy = %s\nwant %s", c, want)
	}
}

func TestArnFields(t *testing.T) {
	for _, s := range []string{"", ":", "arn:aws:iam::111122223333:root", "arn:aws:sts::1:assumed-role/r/s:x:y", "a:b:c:d:e", "a:b:c:d:e:", ":::::", "111122223333"} {
		f, ok := arnFields(s)
		want := strings.SplitN(s, ":", 6)
		if ok != (len(want) == 6) || ok && f != [6]string(want) {
			t.Errorf("arnFields(%q) = %q, %v; SplitN = %q", s, f, ok, want)
		}
	}
}

// TestMarshalWithin pins the switch to the compact form on a document with
// escapes, an unknown member with its own white space, and a nested array.
func TestMarshalWithin(t *testing.T) {
	d, err := Parse([]byte(`{"Statement":[{"Sid":"a \"b\" \\ c","Effect":"Allow","Action":["x","y"],"X":{ "k" : [ 1, " s " ] }}]}`))
	if err != nil {
		t.Fatal(err)
	}
	full, _ := d.Marshal()
	compact, _ := d.MarshalCompact()
	if want := `{"Statement":[{"Sid":"a \"b\" \\ c","Effect":"Allow","Action":["x","y"],"X":{"k":[1," s "]}}]}`; string(compact) != want {
		t.Fatalf("MarshalCompact = %s", compact)
	}
	for limit, want := range map[int][]byte{len(full): full, len(full) + 1: full, len(full) - 1: compact, 0: compact} {
		if got, err := d.MarshalWithin(limit); err != nil || !bytes.Equal(got, want) {
			t.Errorf("MarshalWithin(%d) = %s, %v; want %s", limit, got, err, want)
		}
	}
}
