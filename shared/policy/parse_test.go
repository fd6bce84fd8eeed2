package policy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

func mustParse(t testing.TB, s string) *Document {
	t.Helper()
	d, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse(%s): %v", s, err)
	}
	return d
}

func TestParseShapes(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Id":"x","Statement":{
		"Sid":"s","Effect":"Allow",
		"Principal":{"Service":"cloudwatch.amazonaws.com","AWS":["111122223333","arn:aws:iam::444455556666:root"]},
		"Action":"kms:Decrypt","Resource":["*"],
		"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"},"NumericEquals":{"n":[1,"2",true]}}}}`)
	if d.Version != "2012-10-17" || d.ID != "x" || len(d.Statements) != 1 {
		t.Fatalf("doc = %+v", d)
	}
	s := d.Statements[0]
	want := &Statement{
		Sid: "s", Effect: "Allow",
		Principal: &Principal{
			Service: &Values{Items: []string{"cloudwatch.amazonaws.com"}, Single: true},
			AWS:     &Values{Items: []string{"111122223333", "arn:aws:iam::444455556666:root"}},
		},
		Action:   &Values{Items: []string{"kms:Decrypt"}, Single: true},
		Resource: &Values{Items: []string{"*"}},
		Condition: Conditions{
			{Operator: "StringEquals", Keys: []ConditionKey{{Key: "aws:SourceAccount", Values: Values{Items: []string{"111122223333"}, Single: true}}}},
			{Operator: "NumericEquals", Keys: []ConditionKey{{Key: "n", Values: Values{Items: []string{"1", "2", "true"}}}}},
		},
	}
	// Compare the exported view only; meta is checked by the round-trip tests.
	clearMeta(s)
	if !reflect.DeepEqual(s, want) {
		t.Errorf("statement =\n%#v\nwant\n%#v", s, want)
	}

	star := mustParse(t, `{"Statement":[{"Effect":"Deny","NotPrincipal":"*","NotAction":[],"NotResource":"arn:aws:sns:*"}]}`)
	st := star.Statements[0]
	if !st.NotPrincipal.Wildcard || st.Principal != nil || st.Action != nil || len(st.NotAction.Items) != 0 ||
		st.NotResource.Items[0] != "arn:aws:sns:*" || st.Condition != nil || !st.IsDeny() || st.IsAllow() {
		t.Errorf("statement = %+v", st)
	}
}

func clearMeta(s *Statement) {
	s.meta = stmtMeta{}
	for _, p := range []*Principal{s.Principal, s.NotPrincipal} {
		if p != nil {
			p.meta = principalMeta{}
		}
	}
	for i := range s.Condition {
		for j := range s.Condition[i].Keys {
			s.Condition[i].Keys[j].Values.raw = nil
		}
	}
}

func TestParseDuplicateKeysLastWins(t *testing.T) {
	d := mustParse(t, string(readFile(t, "testdata/shapes-duplicates.json")))
	s := d.Statements[0]
	if d.Version != "2012-10-17" || s.Effect != "Allow" || s.Principal.Service.Items[0] != "b.amazonaws.com" ||
		s.Condition[0].Keys[0].Values.Items[0] != "2" || len(s.Condition[0].Keys) != 1 {
		t.Errorf("duplicates not resolved last-wins: %s", d)
	}
	if got := d.meta.order; !reflect.DeepEqual(got, []string{"Version", "Statement"}) {
		t.Errorf("order = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, "invalid JSON: unexpected end of JSON input"},
		{`{"Statement":[}`, "invalid JSON: invalid character '}' looking for beginning of value"},
		{`{"Statement":[]} x`, "invalid JSON: invalid character 'x' after top-level value"},
		{`[]`, "policy: is an array, want an object"},
		{`"x"`, "policy: is a string, want an object"},
		{`{}`, "policy has no Statement"},
		{`{"Statement":[]}`, "Statement is an empty array"},
		{`{"Statement":"s"}`, `Statement is a string, want an object or an array of objects`},
		{`{"Statement":null}`, `Statement is null, want an object or an array of objects`},
		{`{"Version":1,"Statement":[]}`, "Version: is a number, want a string"},
		{`{"Id":["a"],"Statement":[]}`, "Id: is an array, want a string"},
		{`{"statement":[]}`, `member "statement" must be spelled "Statement"`},
		{`{"Statement":[1]}`, "statement 1: is a number, want an object"},
		{`{"Statement":[{"Effect":"Allow","Action":"a"},{"Effect":"Allow","Action":"a"},{"Effect":"Maybe","Action":"a"}]}`,
			`statement 3: Effect "Maybe" is not Allow or Deny`},
		{`{"Statement":[{"Action":"a"}]}`, "statement 1: no Effect"},
		{`{"Statement":[{"Effect":true,"Action":"a"}]}`, "statement 1: Effect: is a boolean, want a string"},
		{`{"Statement":[{"Effect":"Allow"}]}`, "statement 1: neither Action nor NotAction"},
		{`{"Statement":[{"Effect":"Allow","Action":"a","NotAction":"b"}]}`, "statement 1: both Action and NotAction"},
		{`{"Statement":[{"Effect":"Allow","Action":"a","Principal":"*","NotPrincipal":"*"}]}`, "statement 1: both Principal and NotPrincipal"},
		{`{"Statement":[{"Effect":"Allow","Action":"a","Resource":"*","NotResource":"*"}]}`, "statement 1: both Resource and NotResource"},
		{`{"Statement":[{"Effect":"Allow","Action":1}]}`, "statement 1: Action: is a number, want a string or an array of strings"},
		{`{"Statement":[{"Effect":"Allow","Action":["a",2]}]}`, "statement 1: Action: item 2 is a number, want a string or an array of strings"},
		{`{"Statement":[{"Effect":"Allow","Action":"a","Resource":{"x":1}}]}`, "statement 1: Resource: is an object, want a string or an array of strings"},
		{`{"Statement":[{"Effect":"Allow","action":"a"}]}`, `statement 1: member "action" must be spelled "Action"`},
		{`{"Statement":[{"Effect":"Allow","Action":"a","Principal":"111122223333"}]}`,
			`statement 1: Principal: string "111122223333" is not "*"; name principals as {"AWS": ...} or {"Service": ...}`},
		{`{"Statement":[{"Effect":"Allow","Action":"a","Principal":["*"]}]}`, `statement 1: Principal: is an array, want "*" or an object`},
		{`{"Statement":[{"Effect":"Allow","Action":"a","Principal":{"Alien":"x"}}]}`, `statement 1: Principal: unknown principal type "Alien"`},
		{`{"Statement":[{"Effect":"Allow","Action":"a","Principal":{"aws":"x"}}]}`, `statement 1: Principal: member "aws" must be spelled "AWS"`},
		{`{"Statement":[{"Effect":"Allow","Action":"a","NotPrincipal":{"Service":[null]}}]}`, `statement 1: NotPrincipal: Service: item 1 is null, want a string or an array of strings`},
		{`{"Statement":[{"Effect":"Allow","Action":"a","Condition":[]}]}`, "statement 1: Condition: is an array, want an object"},
		{`{"Statement":[{"Effect":"Allow","Action":"a","Condition":{"StringEquals":"x"}}]}`, "statement 1: Condition: StringEquals: is a string, want an object of condition keys"},
		{`{"Statement":[{"Effect":"Allow","Action":"a","Condition":{"StringEquals":{"k":{"x":1}}}}]}`,
			"statement 1: Condition: StringEquals: k: is an object, want a string, number, boolean or an array of them"},
		{`{"Statement":[{"Effect":"Allow","Action":"a","Condition":{"StringEquals":{"k":["a",[1]]}}}]}`,
			"statement 1: Condition: StringEquals: k: item 2 is an array, want a string, number, boolean or an array of them"},
		{`{"Statement":[{"Effect":"Allow","Action":"a","Condition":{"Null":{"k":null}}}]}`,
			"statement 1: Condition: Null: k: is null, want a string, number, boolean or an array of them"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.in))
		if err == nil {
			t.Errorf("Parse(%s) succeeded, want error %q", tc.in, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Parse(%s) error\n got %q\nwant %q", tc.in, err.Error(), tc.want)
		}
	}
}

func TestParseHostileInput(t *testing.T) {
	deep := strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000)
	if _, err := Parse([]byte(`{"Statement":[{"Effect":"Allow","Action":"a","x":` + deep + `}]}`)); err == nil ||
		!strings.Contains(err.Error(), "exceeded max depth") {
		t.Errorf("deep nesting: err = %v, want max depth error", err)
	}
	// Nesting within encoding/json's limit is kept as an unknown member.
	ok := strings.Repeat(`[`, 5000) + strings.Repeat(`]`, 5000)
	d, err := Parse([]byte(`{"Statement":[{"Effect":"Allow","Action":"a","x":` + ok + `}]}`))
	if err != nil {
		t.Fatalf("5000-deep unknown member: %v", err)
	}
	out, err := d.MarshalCompact()
	if err != nil || !bytes.Contains(out, []byte(ok)) {
		t.Errorf("5000-deep member not kept: %v", err)
	}

	var b strings.Builder
	b.WriteString(`{"Statement":[`)
	for i := range 10000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}`)
	}
	b.WriteString(`]}`)
	d, err = Parse([]byte(b.String()))
	if err != nil || len(d.Statements) != 10000 {
		t.Fatalf("10000 statements: err=%v", err)
	}
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMarshalGolden parses every testdata policy, writes it back and compares
// with testdata/golden/<name> (go test -run TestMarshalGolden -update rewrites
// them). The reparsed output must be Equal to the input and Marshal stable.
func TestMarshalGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) < 7 {
		t.Fatalf("testdata: %v files, err %v", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in := readFile(t, f)
			d := mustParse(t, string(in))
			out, err := d.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", filepath.Base(f))
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, append(out, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := readFile(t, golden)
			if string(out)+"\n" != string(want) {
				t.Errorf("Marshal(%s) =\n%s\nwant\n%s", f, out, want)
			}
			eq, err := Equal(in, out)
			if err != nil || !eq {
				t.Errorf("Equal(input, Marshal) = %v, %v", eq, err)
			}
			again, _ := mustParse(t, string(out)).Marshal()
			if !bytes.Equal(again, out) {
				t.Errorf("Marshal not stable:\n%s\nthen\n%s", out, again)
			}
		})
	}
}

// The AWS samples are written the way KMS returns them: the round trip must be
// byte-identical, so a fix differs from the original only where it edits.
func TestMarshalSamplesByteIdentical(t *testing.T) {
	files, _ := filepath.Glob("testdata/kms-policy-*.json")
	if len(files) != 4 {
		t.Fatalf("want 4 samples, have %d", len(files))
	}
	for _, f := range files {
		in := bytes.TrimRight(readFile(t, f), "\n")
		out, err := mustParse(t, string(in)).Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Errorf("%s: round trip differs (err %v):\n%s", f, err, out)
		}
	}
}

func TestMarshalBuiltStatement(t *testing.T) {
	d := mustParse(t, `{"Statement":{"Effect":"Allow","Action":"a","Resource":"*","Sid":"first"},"Version":"2012-10-17"}`)
	// Still one statement: stays an object.
	got, _ := d.MarshalCompact()
	if want := `{"Statement":{"Effect":"Allow","Action":"a","Resource":"*","Sid":"first"},"Version":"2012-10-17"}`; string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	d.Statements = append(d.Statements, &Statement{
		Condition: Conditions{{Operator: "StringEquals", Keys: []ConditionKey{{Key: "aws:SourceAccount", Values: Values{Items: []string{"111122223333"}, Single: true}}}}},
		Resource:  &Values{Items: []string{"*"}, Single: true},
		Action:    &Values{Items: []string{"kms:GenerateDataKey*", "kms:Decrypt"}},
		Principal: &Principal{Service: &Values{Items: []string{"s3.amazonaws.com"}, Single: true}},
		Effect:    "Allow",
		Sid:       "New<&>",
	})
	d.Statements[0].Resource.Items = append(d.Statements[0].Resource.Items, "arn:x") // Single with 2 items: array
	got, _ = d.MarshalCompact()
	want := `{"Statement":[{"Effect":"Allow","Action":"a","Resource":["*","arn:x"],"Sid":"first"},` +
		`{"Sid":"New<&>","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],` +
		`"Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}}],"Version":"2012-10-17"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	indented, _ := d.Marshal()
	if !bytes.HasPrefix(indented, []byte("{\n  \"Statement\": [\n    {\n      \"Effect\": \"Allow\",")) {
		t.Errorf("indentation:\n%s", indented)
	}

	built := &Document{Version: "2012-10-17", Statements: []*Statement{{Effect: "Deny", NotAction: &Values{}, Principal: &Principal{Wildcard: true}}}}
	got, _ = built.MarshalCompact()
	if want := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","NotAction":[]}]}`; string(got) != want {
		t.Errorf("built doc: got %s\nwant %s", got, want)
	}
	if _, err := (&Document{}).Marshal(); err == nil {
		t.Error("Marshal of a document without statements succeeded")
	}
}

func TestMarshalEditedScalar(t *testing.T) {
	d := mustParse(t, `{"Statement":[{"Effect":"Allow","Action":"a","Condition":{"NumericLessThan":{"n":[42,1.50]},"Bool":{"b":true}}}]}`)
	got, _ := d.MarshalCompact()
	if want := `{"Statement":[{"Effect":"Allow","Action":"a","Condition":{"NumericLessThan":{"n":[42,1.50]},"Bool":{"b":true}}}]}`; string(got) != want {
		t.Errorf("got %s", got)
	}
	d.Statements[0].Condition[0].Keys[0].Values.Items[0] = "7"
	d.Statements[0].Condition[1].Keys[0].Values.Items = append(d.Statements[0].Condition[1].Keys[0].Values.Items, "false")
	got, _ = d.MarshalCompact()
	if want := `{"Statement":[{"Effect":"Allow","Action":"a","Condition":{"NumericLessThan":{"n":["7",1.50]},"Bool":{"b":["true","false"]}}}]}`; string(got) != want {
		t.Errorf("after edit got %s\nwant %s", got, want)
	}
}

func TestCloneIsDeep(t *testing.T) {
	d := mustParse(t, string(readFile(t, "testdata/shapes-mixed.json")))
	before, _ := d.Marshal()
	c := d.Clone()
	c.Statements[0].Principal.Service.Items[0] = "changed"
	c.Statements[0].Condition[0].Keys[0].Values.Items[0] = "0"
	c.Statements[0].Action.Items = append(c.Statements[0].Action.Items, "x")
	after, _ := d.Marshal()
	if !bytes.Equal(before, after) {
		t.Errorf("editing the clone changed the original")
	}
	cm, _ := d.Clone().Marshal()
	if !bytes.Equal(cm, before) {
		t.Errorf("clone marshals differently:\n%s", cm)
	}
}
