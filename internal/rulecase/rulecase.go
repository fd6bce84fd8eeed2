// Package rulecase reads the rule cases of shared/rules/testdata/cases: the
// corpus the rules tests assert and the IAM oracle compares, so both read
// one format with the same defaults.
package rulecase

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// The defaults a case's topic and key take.
const (
	TopicARN = "arn:aws:sns:us-east-1:111122223333:orders"
	KeyARN   = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

// Case is one rule case (shared/rules/testdata/cases/*.json): a topic, its key
// and settings, and what the judge must say of them. Fields left out take the
// defaults of Input.
type Case struct {
	File  string `json:"-"` // the file's name without .json
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

// Load reads every case of dir/cases (dir is a testdata folder), refusing
// unknown members; a case without a name is named after its file.
func Load(dir string) ([]*Case, error) {
	files, err := filepath.Glob(filepath.Join(dir, "cases", "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no rule case in %s", filepath.Join(dir, "cases"))
	}
	var out []*Case
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		c := &Case{}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		c.File = strings.TrimSuffix(filepath.Base(f), ".json")
		if c.Name == "" {
			c.Name = c.File
		}
		out = append(out, c)
	}
	return out, nil
}

// RawPolicy turns a case's policy member into bytes: a JSON string is taken
// as the policy text itself (so unparseable text can be written), anything
// else is the policy document.
func RawPolicy(m json.RawMessage) ([]byte, error) {
	m = bytes.TrimSpace(m)
	if len(m) == 0 || string(m) == "null" {
		return nil, nil
	}
	if m[0] == '"' {
		var s string
		if err := json.Unmarshal(m, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	}
	return m, nil
}

func str(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

// Input is the case as the judge's input; dir is the testdata folder a
// policyFile is read from.
func (c *Case) Input(dir string) (rules.Input, error) {
	topicPolicy, err := RawPolicy(c.Topic.Policy)
	if err != nil {
		return rules.Input{}, fmt.Errorf("%s: topic policy: %w", c.Name, err)
	}
	in := rules.Input{
		Topic: rules.Topic{
			ARN:            str(c.Topic.ARN, TopicARN),
			KMSMasterKeyID: str(c.Topic.KMSMasterKeyID, "alias/orders"),
			Policy:         topicPolicy,
		},
		Discovered: c.Discovered,
		Config: rules.Config{
			RequiredPrincipals:     c.Config.RequiredPrincipals,
			RemediationKeyID:       c.Config.RemediationKeyID,
			IAMUsesResourceAliases: c.Config.IAMUsesResourceAliases,
		},
	}
	if c.NoKey || in.Topic.KMSMasterKeyID == "" {
		return in, nil
	}
	k := &rules.Key{ARN: KeyARN, ID: "1234abcd-12ab-34cd-56ef-1234567890ab", Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT",
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
		if k.Policy, err = RawPolicy(c.Key.Policy); err != nil {
			return rules.Input{}, fmt.Errorf("%s: key policy: %w", c.Name, err)
		}
		if c.Key.PolicyFile != "" {
			if k.Policy, err = os.ReadFile(filepath.Join(dir, c.Key.PolicyFile)); err != nil {
				return rules.Input{}, err
			}
		}
	}
	in.Key = k
	return in, nil
}
