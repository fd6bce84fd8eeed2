package rules_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// Defaults keep the case files short: a topic in 111122223333/us-east-1
// encrypted with a symmetric, enabled, customer managed key of the same
// account that has an alias.
const (
	defTopicARN = "arn:aws:sns:us-east-1:111122223333:orders"
	defKeyARN   = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

// caseFile is one corpus case (testdata/cases/*.json).
type caseFile struct {
	Name  string `json:"name"`
	Topic struct {
		ARN            *string         `json:"arn"`
		KMSMasterKeyID *string         `json:"kmsMasterKeyId"`
		Policy         json.RawMessage `json:"policy"`
	} `json:"topic"`
	Key *struct {
		ARN        *string         `json:"arn"`
		ID         string          `json:"id"`
		Manager    *string         `json:"manager"`
		Spec       *string         `json:"spec"`
		Usage      *string         `json:"usage"`
		State      *string         `json:"state"`
		Aliases    *[]string       `json:"aliases"`
		Policy     json.RawMessage `json:"policy"`
		PolicyFile string          `json:"policyFile"`
		ReadError  string          `json:"readError"`
		ReadDetail string          `json:"readDetail"`
	} `json:"key"`
	NoKey  bool `json:"noKey"`
	Config struct {
		RequiredPrincipals     []string `json:"requiredPrincipals"`
		RemediationKeyID       string   `json:"remediationKeyId"`
		IAMUsesResourceAliases bool     `json:"iamUsesResourceAliases"`
	} `json:"config"`
	Discovered []rules.Publisher `json:"discovered"`
	Want       struct {
		Compliance string          `json:"compliance"`
		Codes      []string        `json:"codes"`
		Fixable    map[string]bool `json:"fixable"`
		Uncertain  []string        `json:"uncertain"`
		Repoint    bool            `json:"repoint"`
		Publishers int             `json:"publishers"`
		// Grants, when present, must equal Result.Grants exactly.
		Grants *[]rules.Grant `json:"grants"`
		// Messages maps a finding label to a text its message must contain.
		Messages map[string]string `json:"messages"`
	} `json:"want"`
}

// rawPolicy turns a case's policy member into bytes: a JSON string is taken
// as the policy text itself (so unparseable text can be written), anything
// else is the policy document.
func rawPolicy(t testing.TB, m json.RawMessage) []byte {
	t.Helper()
	m = json.RawMessage(strings.TrimSpace(string(m)))
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	if m[0] == '"' {
		var s string
		if err := json.Unmarshal(m, &s); err != nil {
			t.Fatal(err)
		}
		return []byte(s)
	}
	return m
}

func str(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func (c *caseFile) input(t testing.TB) rules.Input {
	t.Helper()
	in := rules.Input{
		Topic: rules.Topic{
			ARN:            str(c.Topic.ARN, defTopicARN),
			KMSMasterKeyID: str(c.Topic.KMSMasterKeyID, "alias/orders"),
			Policy:         rawPolicy(t, c.Topic.Policy),
		},
		Discovered: c.Discovered,
		Config: rules.Config{
			RequiredPrincipals:     c.Config.RequiredPrincipals,
			RemediationKeyID:       c.Config.RemediationKeyID,
			IAMUsesResourceAliases: c.Config.IAMUsesResourceAliases,
		},
	}
	if c.NoKey || in.Topic.KMSMasterKeyID == "" {
		return in
	}
	k := &rules.Key{ARN: defKeyARN, ID: "1234abcd-12ab-34cd-56ef-1234567890ab", Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT",
		Usage: "ENCRYPT_DECRYPT", State: "Enabled", Aliases: []string{"alias/orders"}, NamedAs: in.Topic.KMSMasterKeyID}
	if c.Key != nil {
		k.ARN = str(c.Key.ARN, k.ARN)
		if c.Key.ID != "" {
			k.ID = c.Key.ID
		}
		k.Manager = str(c.Key.Manager, k.Manager)
		k.Spec = str(c.Key.Spec, k.Spec)
		k.Usage = str(c.Key.Usage, k.Usage)
		k.State = str(c.Key.State, k.State)
		if c.Key.Aliases != nil {
			k.Aliases = *c.Key.Aliases
		}
		k.ReadError = rules.KeyError(c.Key.ReadError)
		k.ReadDetail = c.Key.ReadDetail
		k.Policy = rawPolicy(t, c.Key.Policy)
		if c.Key.PolicyFile != "" {
			b, err := os.ReadFile(filepath.Join("testdata", c.Key.PolicyFile))
			if err != nil {
				t.Fatal(err)
			}
			k.Policy = b
		}
	}
	in.Key = k
	return in
}

// label names a finding in case files: "CODE" or "CODE principal".
func label(f rules.Finding) string {
	if f.Principal == "" {
		return string(f.Code)
	}
	return string(f.Code) + " " + f.Principal
}

func loadCases(t testing.TB) []*caseFile {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "cases", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*caseFile
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := &caseFile{}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if c.Name == "" {
			c.Name = strings.TrimSuffix(filepath.Base(f), ".json")
		}
		out = append(out, c)
	}
	return out
}

// checkResult asserts the exact finding multiset, fixability, uncertainty and
// the other fields a case pins.
func checkResult(t *testing.T, c *caseFile, r rules.Result) {
	t.Helper()
	var got []string
	for _, f := range r.Findings {
		got = append(got, label(f))
	}
	want := append([]string(nil), c.Want.Codes...)
	sort.Strings(want)
	gs := append([]string(nil), got...)
	sort.Strings(gs)
	if strings.Join(gs, "|") != strings.Join(want, "|") {
		t.Fatalf("codes = %q, want %q\nfindings: %s", gs, want, dump(r.Findings))
	}
	if r.Compliance != c.Want.Compliance {
		t.Errorf("compliance = %s, want %s", r.Compliance, c.Want.Compliance)
	}
	if r.Findings == nil {
		t.Error("Findings is nil")
	}
	uncertain := map[string]bool{}
	for _, u := range c.Want.Uncertain {
		uncertain[u] = true
	}
	for _, f := range r.Findings {
		l := label(f)
		if f.Fixable != c.Want.Fixable[l] {
			t.Errorf("%s: fixable = %v, want %v (%s)", l, f.Fixable, c.Want.Fixable[l], f.Message)
		}
		if f.Uncertain != uncertain[l] {
			t.Errorf("%s: uncertain = %v, want %v", l, f.Uncertain, uncertain[l])
		}
		if f.Message == "" {
			t.Errorf("%s: empty message", l)
		}
		if want, ok := c.Want.Messages[l]; ok && !strings.Contains(f.Message, want) {
			t.Errorf("%s: message %q does not contain %q", l, f.Message, want)
		}
		if f.Code != rules.TopicUnencrypted && f.KeyARN == "" {
			t.Errorf("%s: no KeyARN", l)
		}
	}
	for l := range c.Want.Messages {
		if !contains(got, l) {
			t.Errorf("messages name %s, which is not a finding", l)
		}
	}
	for l := range c.Want.Fixable {
		if !contains(got, l) {
			t.Errorf("fixable names %s, which is not a finding", l)
		}
	}
	if r.Repoint != c.Want.Repoint {
		t.Errorf("repoint = %v, want %v", r.Repoint, c.Want.Repoint)
	}
	if c.Want.Publishers != 0 && r.Publishers != c.Want.Publishers {
		t.Errorf("publishers = %d, want %d", r.Publishers, c.Want.Publishers)
	}
	if r.Publishers < 1 {
		t.Errorf("publishers = %d, want >= 1", r.Publishers)
	}
	if c.Want.Grants != nil {
		g, _ := json.Marshal(r.Grants)
		w, _ := json.Marshal(*c.Want.Grants)
		if len(*c.Want.Grants) == 0 && len(r.Grants) == 0 {
			g, w = nil, nil
		}
		if string(g) != string(w) {
			t.Errorf("grants = %s, want %s", g, w)
		}
	}
	// Every fixable principal finding has exactly its grant, and no other grant exists.
	fixable := map[string]bool{}
	for _, f := range r.Findings {
		if f.Fixable && f.Principal != "" {
			fixable[f.Principal] = true
		}
	}
	if len(r.Grants) != len(fixable) {
		t.Errorf("grants %v for fixable principals %v", r.Grants, fixable)
	}
	for _, g := range r.Grants {
		if !fixable[g.Principal] {
			t.Errorf("grant for %s, which has no fixable finding", g.Principal)
		}
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func TestCases(t *testing.T) {
	cases := loadCases(t)
	if len(cases) < 40 {
		t.Fatalf("corpus has %d cases, want at least 40", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			r := rules.Evaluate(c.input(t))
			checkResult(t, c, r)
			// Judging is deterministic, findings included.
			if again := rules.Evaluate(c.input(t)); dump(again) != dump(r) {
				t.Errorf("second evaluation differs:\n%s\n%s", dump(r), dump(again))
			}
		})
	}
}

// TestCorpusCoversEveryCode keeps the corpus honest: every code Evaluate can
// emit is asserted by some case, compliant cases included.
func TestCorpusCoversEveryCode(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range loadCases(t) {
		for _, l := range c.Want.Codes {
			seen[strings.Fields(l)[0]] = true
		}
		if c.Want.Compliance == rules.Compliant {
			seen["COMPLIANT"] = true
		}
	}
	for _, code := range []rules.Code{rules.TopicUnencrypted, rules.KeyAWSManaged, rules.KeyNotSymmetric, rules.KeyDisabled,
		rules.KeyPendingDeletion, rules.KeyUnavailable, rules.KeyNotFound, rules.KeyAccessDenied, rules.KeyOtherRegion,
		rules.KeyOtherAccount, rules.GrantMissing, rules.GrantDenied, rules.ConfusedDeputyMissing, rules.ConfusedDeputyMismatch,
		rules.ConfusedDeputyUnsupported, rules.AliasRequired, rules.PublisherNotGranted, rules.SourceNeedsRole,
		rules.PolicyUnparseable, "COMPLIANT"} {
		if !seen[string(code)] {
			t.Errorf("no case asserts %s", code)
		}
	}
}

func compact(s string) string {
	var b strings.Builder
	inStr := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' && (i == 0 || s[i-1] != '\\') {
			inStr = !inStr
		}
		if !inStr && (c == ' ' || c == '\n' || c == '\t') {
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
