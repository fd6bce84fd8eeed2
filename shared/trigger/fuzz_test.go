package trigger

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkInvariants holds for every Request a decoder returns without error:
// a non-skipped request names a resource the guard can act on, and where.
func checkInvariants(t testing.TB, r Request) {
	t.Helper()
	if r.Skip != "" {
		if !utf8.ValidString(r.Skip) || len(r.Skip) > 200 {
			t.Errorf("skip reason not short valid UTF-8: %q", r.Skip)
		}
		return
	}
	if !validAccount(r.Account) {
		t.Errorf("account %q is not 12 digits", r.Account)
	}
	if r.Region != "" {
		if p, err := partitionOf(r.Region); err != nil || p != r.Partition {
			t.Errorf("region %q and partition %q disagree (%v)", r.Region, r.Partition, err)
		}
	}
	if (r.Config != nil) != (r.Source == "aws.config") {
		t.Errorf("Config set = %v for source %q", r.Config != nil, r.Source)
	}
	where := func(a arn) {
		if a.Account != r.Account || a.Region != r.Region || a.Partition != r.Partition {
			t.Errorf("resource %s is not in %s/%s/%s", a, r.Partition, r.Region, r.Account)
		}
	}
	switch r.Kind {
	case TopicChange, ConfigChange:
		a, err := parseTopicARN(r.TopicARN)
		if err != nil {
			t.Errorf("%s without a valid topic ARN: %v", r.Kind, err)
			return
		}
		where(a)
		if r.KeyID != "" {
			t.Errorf("%s with a key %q", r.Kind, r.KeyID)
		}
		if r.Kind == TopicChange && r.Source != "aws.sns" {
			t.Errorf("TopicChange from %q", r.Source)
		}
	case KeyChange:
		a, err := parseKeyARN(r.KeyID)
		if err != nil {
			t.Errorf("KeyChange without a valid key ARN: %v", err)
			return
		}
		where(a)
		if r.TopicARN != "" || r.Source != "aws.kms" {
			t.Errorf("KeyChange with topic %q from %q", r.TopicARN, r.Source)
		}
	case ConfigSweep:
		if r.TopicARN != "" || r.KeyID != "" {
			t.Errorf("sweep names a resource: %q %q", r.TopicARN, r.KeyID)
		}
	default:
		t.Errorf("non-skipped request of kind %q", r.Kind)
	}
	if r.Config != nil && r.Config.TestMode != (r.Config.ResultToken == TestModeToken) {
		t.Errorf("TestMode %v for token %q", r.Config.TestMode, r.Config.ResultToken)
	}
}

const maxSeedBytes = 8 << 10

// seeds returns the sample events and the bad corpus for one decoder.
func seeds(t testing.TB, config bool) [][]byte {
	var out [][]byte
	files := eventFiles(t)
	bad, _ := filepath.Glob("testdata/bad/*.json")
	good, _ := filepath.Glob("testdata/good/*.json")
	for _, f := range append(append(files, bad...), good...) {
		base := filepath.Base(f)
		isConfig := strings.HasPrefix(base, "config-rule-") || strings.HasPrefix(base, "cfg-")
		if isConfig != config {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Large seeds (huge strings, deep nesting) make the fuzzer's
		// coverage baseline slow and its mutations aimless; the corpus test
		// covers them.
		if len(raw) <= maxSeedBytes {
			out = append(out, raw)
		}
	}
	return out
}

func fuzzDecoder(f *testing.F, config bool, decode func([]byte) (Request, error)) {
	for _, s := range seeds(f, config) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := decode(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			if (r != Request{}) {
				t.Fatalf("error with a non-empty Request: %+v", r)
			}
			return
		}
		checkInvariants(t, r)
	})
}

func FuzzDecodeCloudTrail(f *testing.F) { fuzzDecoder(f, false, DecodeCloudTrail) }

func FuzzDecodeConfig(f *testing.F) { fuzzDecoder(f, true, DecodeConfig) }

// FuzzCloudTrailFields fuzzes the values inside a well-formed event, which
// byte-level mutation of whole events rarely reaches: identities, regions and
// names in every combination must still give an error, a skip or a request
// that satisfies the invariants.
func FuzzCloudTrailFields(f *testing.F) {
	f.Add("aws.sns", "CreateTopic", "111122223333", "us-east-1", "arn:aws:sns:us-east-1:111122223333:orders", "orders", "")
	f.Add("aws.sns", "SetTopicAttributes", "111122223333", "cn-north-1", "arn:aws-cn:sns:cn-north-1:111122223333:a.fifo", "KmsMasterKeyId", "")
	f.Add("aws.kms", "PutKeyPolicy", "111122223333", "us-gov-west-1", "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "1234abcd-12ab-34cd-56ef-1234567890ab", "")
	f.Add("aws.kms", "CreateAlias", "111122223333", "us-east-1", "arn:aws:kms:us-east-1:111122223333:alias/x", "mrk-1234abcd12ab34cd56ef1234567890ab", "alias/x")
	f.Add("aws.kms", "DeleteAlias", "111122223333", "eu-west-1", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "", "alias/x")
	f.Fuzz(func(t *testing.T, source, name, account, region, resourceARN, param, alias string) {
		detail := map[string]any{
			"eventName": name, "awsRegion": region,
			"requestParameters": map[string]any{
				"name": param, "topicArn": resourceARN, "attributeName": param, "keyId": param,
				"targetKeyId": param, "aliasName": alias,
			},
			"responseElements": map[string]any{"topicArn": resourceARN, "keyId": resourceARN},
			"resources":        []any{map[string]any{"type": "AWS::KMS::Key", "ARN": resourceARN}},
		}
		raw, err := json.Marshal(map[string]any{"detail-type": "AWS API Call via CloudTrail", "source": source,
			"account": account, "region": region, "detail": detail})
		if err != nil {
			t.Skip()
		}
		r, err := DecodeCloudTrail(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		checkInvariants(t, r)
	})
}
