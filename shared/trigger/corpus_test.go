package trigger

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestBadCorpus decodes every malformed or odd event in testdata/bad and
// asserts the outcome EXPECT.tsv gives it: an error containing the text, or
// a skip with exactly that reason. Nothing may decode into a request to act on.
func TestBadCorpus(t *testing.T) {
	f, err := os.Open("testdata/bad/EXPECT.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	errs, skips := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := strings.SplitN(line, "\t", 3)
		if len(p) != 3 {
			t.Fatalf("EXPECT.tsv: bad line %q", line)
		}
		name, outcome, text := p[0], p[1], p[2]
		listed[name] = true
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile("testdata/bad/" + name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decode(name, raw)
			switch outcome {
			case "error":
				errs++
				if err == nil {
					t.Fatalf("decoded without error: %+v", got)
				}
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), text) {
					t.Errorf("error %q\nwant it to contain %q and wrap ErrMalformed", err, text)
				}
				if (got != Request{}) {
					t.Errorf("error with a non-empty request %+v", got)
				}
			case "skip":
				skips++
				if err != nil {
					t.Fatalf("error %v, want skip %q", err, text)
				}
				if got.Skip != text {
					t.Errorf("skip %q, want %q", got.Skip, text)
				}
				checkInvariants(t, got)
			default:
				t.Fatalf("unknown outcome %q", outcome)
			}
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/bad/*.json")
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s has no line in EXPECT.tsv", f)
		}
	}
	if len(listed) < 60 {
		t.Errorf("bad corpus has %d cases, want at least 60", len(listed))
	}
	t.Logf("bad_inputs=%d errors=%d skips=%d", len(listed), errs, skips)
}

func TestOversizedEvent(t *testing.T) {
	raw := []byte(`{"source":"aws.sns","pad":"` + strings.Repeat("x", maxEventBytes) + `"}`)
	for name, dec := range map[string]func([]byte) (Request, error){"cloudtrail": DecodeCloudTrail, "config": DecodeConfig} {
		_, err := dec(raw)
		if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "over the 1048576-byte limit") {
			t.Errorf("%s: err = %v, want the size limit", name, err)
		}
	}
}

// TestGoodCorpus pins the decoding of AWS's documented shapes (the shared
// samples in account 111122223333) and of the variants the decoder accepts.
func TestGoodCorpus(t *testing.T) {
	const acct = "111122223333"
	const kid = "1234abcd-12ab-34cd-56ef-1234567890ab"
	keyARN := "arn:aws:kms:us-east-1:" + acct + ":key/" + kid
	legacy := "arn:aws:sns:us-east-1:" + acct + ":legacy-alerts-AlertsTopic-1XK3R7ZQ2P9M"
	sso := "arn:aws:iam::" + acct + ":role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_PlatformAdmin_0123456789abcdef"
	cfn := "arn:aws:iam::" + acct + ":role/cfn-deploy-execution-role"
	req := func(kind Kind, source, name, id, actor string) Request {
		return Request{Kind: kind, Source: source, EventName: name, EventID: id, Account: acct,
			Region: "us-east-1", Partition: "aws", Actor: actor}
	}
	kms := func(name, alias string) Request {
		r := req(KeyChange, "aws.kms", name, "c217db1f-903f-4a2f-8f88-9580182dbb02", sso)
		r.KeyID, r.Alias = keyARN, alias
		return r
	}
	samplesParams := map[string]string{"allowedPrincipalsWithoutConditions": "events.amazonaws.com",
		"requiredServicePrincipals": "cloudwatch.amazonaws.com,s3.amazonaws.com,events.amazonaws.com"}
	const token = "eyJlbmNyeXB0ZWREYXRhIjpbMTIsLTQ1LDg4XSwibWF0ZXJpYWxTZXRTZXJpYWxOdW1iZXIiOjEsIml2UGFyYW1ldGVyU3BlYyI6e319"
	ruleARN := "arn:aws:config:us-east-1:" + acct + ":config-rule/config-rule-ab12cd"
	cfg := func(kind Kind, msg, topic, name, at string, params map[string]string) Request {
		r := Request{Kind: kind, Source: "aws.config", EventName: msg, Account: acct, Region: "us-east-1",
			Partition: "aws", TopicARN: topic, Config: &ConfigInfo{ResultToken: token,
				RuleName: "sns-topic-cmk-service-principal-policy", RuleARN: ruleARN, RuleParameters: params,
				OrderingTimestamp: ts(at)}}
		if topic != "" {
			r.Config.ResourceType, r.Config.ResourceID, r.Config.ResourceName = "AWS::SNS::Topic", topic, name
		}
		return r
	}
	want := map[string]Request{}
	r := req(TopicChange, "aws.sns", "CreateTopic", "0c7f2e91-3b5a-4d6e-8f10-7a2b9c4d5e61", sso)
	r.TopicARN = "arn:aws:sns:us-east-1:" + acct + ":orders-events"
	want["ct-sample-sns-CreateTopic-with-KmsMasterKeyId.json"] = r
	gov := r
	gov.Region, gov.Partition, gov.TopicARN = "us-gov-west-1", "aws-us-gov", "arn:aws-us-gov:sns:us-gov-west-1:"+acct+":orders-events"
	want["ct-gov-CreateTopic-name-only.json"] = gov
	fifo := r
	fifo.TopicARN, fifo.Actor = "arn:aws:sns:us-east-1:"+acct+":orders.fifo", "arn:aws:iam::"+acct+":user/alice"
	want["ct-CreateTopic-fifo-iam-user.json"] = fifo
	r = req(TopicChange, "aws.sns", "CreateTopic", "e4d3c2b1-a0f9-4e8d-b7c6-5a4b3c2d1e0f", cfn)
	r.TopicARN = legacy
	want["ct-sample-sns-CreateTopic-no-encryption.json"] = r
	r = req(TopicChange, "aws.sns", "SetTopicAttributes", "1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b", sso)
	r.TopicARN = legacy
	want["ct-sample-sns-SetTopicAttributes-KmsMasterKeyId.json"] = r
	want["ct-SetTopicAttributes-nested.json"] = r
	want["ct-SetTopicAttributes-Policy.json"] = r
	cross := r
	cross.Account, cross.TopicARN = "444455556666", "arn:aws:sns:us-east-1:444455556666:shared-alerts"
	want["ct-SetTopicAttributes-cross-account.json"] = cross
	// A PutKeyPolicy request keeps the policy text it wrote, exactly.
	pkp := kms("PutKeyPolicy", "")
	pkp.Policy = "{\n  \"Version\": \"2012-10-17\",\n  \"Id\": \"key-consolepolicy-3\",\n  \"Statement\": [\n    {\n      \"Sid\": \"Enable IAM User Permissions\",\n      \"Effect\": \"Allow\",\n      \"Principal\": {\n        \"AWS\": \"arn:aws:iam::111122223333:root\"\n      },\n      \"Action\": \"kms:*\",\n      \"Resource\": \"*\"\n    },\n    {\n      \"Sid\": \"AllowCloudWatchAlarmsToUseKey\",\n      \"Effect\": \"Allow\",\n      \"Principal\": {\n        \"Service\": \"cloudwatch.amazonaws.com\"\n      },\n      \"Action\": [\n        \"kms:GenerateDataKey*\",\n        \"kms:Decrypt\"\n      ],\n      \"Resource\": \"*\"\n    }\n  ]\n}"
	want["ct-sample-kms-PutKeyPolicy.json"] = pkp
	cn := kms("PutKeyPolicy", "")
	cn.Policy = "{}"
	cn.Region, cn.Partition, cn.KeyID = "cn-north-1", "aws-cn", "arn:aws-cn:kms:cn-north-1:"+acct+":key/"+kid
	want["ct-cn-PutKeyPolicy-bare-key-id.json"] = cn
	want["ct-UpdateAlias.json"] = kms("UpdateAlias", "alias/my_alias")
	want["ct-DeleteAlias.json"] = kms("DeleteAlias", "alias/my_alias")
	want["ct-DeleteAlias-response-only.json"] = kms("DeleteAlias", "alias/my_alias")
	want["ct-CancelKeyDeletion.json"] = kms("CancelKeyDeletion", "")
	mrk := kms("EnableKey", "")
	mrk.KeyID = "arn:aws:kms:us-east-1:" + acct + ":key/mrk-1234abcd12ab34cd56ef1234567890ab"
	want["ct-EnableKey-mrk.json"] = mrk
	want["cfg-sample-ConfigurationItemChangeNotification-sns-topic.json"] = cfg(ConfigChange, msgChange, legacy,
		"legacy-alerts-AlertsTopic-1XK3R7ZQ2P9M", "2025-03-14T09:41:52.118Z", samplesParams)
	nameOnly := cfg(ConfigChange, msgChange, legacy, "orders", "2025-03-14T09:41:52.118Z", nil)
	nameOnly.TopicARN = "arn:aws:sns:us-east-1:" + acct + ":orders"
	nameOnly.Config.ResourceID = nameOnly.TopicARN
	want["cfg-change-name-only.json"] = nameOnly
	ov := cfg(ConfigChange, msgOversized, "arn:aws:sns:us-east-1:"+acct+":orders-events", "orders-events",
		"2025-03-14T11:15:02.904Z", samplesParams)
	ov.Config.Oversized = true
	want["cfg-sample-OversizedConfigurationItemChangeNotification-sns-topic.json"] = ov
	want["cfg-sample-ScheduledNotification.json"] = cfg(ConfigSweep, msgScheduled, "", "", "2025-03-15T00:00:00.373Z", samplesParams)
	noRule := cfg(ConfigSweep, msgScheduled, "", "", "2025-03-15T00:00:00.373Z", nil)
	noRule.Region, noRule.Partition, noRule.Config.RuleARN = "", "", ""
	want["cfg-scheduled-no-rule-arn.json"] = noRule

	files, _ := filepath.Glob("testdata/good/*.json")
	if len(files) != len(want) {
		t.Errorf("testdata/good has %d files, the table %d", len(files), len(want))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatal("no expected Request")
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decode(name, raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("got  %+v\nwant %+v", got, w)
				if got.Config != nil && w.Config != nil {
					t.Errorf("config got  %+v\nconfig want %+v", *got.Config, *w.Config)
				}
			}
			checkInvariants(t, got)
		})
	}
}

func TestIsSelf(t *testing.T) {
	const iamRole = "arn:aws:iam::000000000000:role/snskeyguard-TopicGuardRole"
	cases := []struct {
		actor, self string
		want        bool
	}{
		{iamRole, iamRole, true},
		{iamRole, "arn:aws:sts::000000000000:assumed-role/snskeyguard-TopicGuardRole/fn", true},
		{"arn:aws:iam::000000000000:role/service/team/snskeyguard-TopicGuardRole", "arn:aws:sts::000000000000:assumed-role/snskeyguard-TopicGuardRole/fn", true},
		{"arn:aws:sts::000000000000:assumed-role/snskeyguard-TopicGuardRole/other-session", iamRole, true},
		{"arn:aws:iam::000000000000:role/SNSKEYGUARD-topicguardrole", iamRole, true}, // IAM role names are case-insensitive
		{iamRole, "arn:aws:sts::111122223333:assumed-role/snskeyguard-TopicGuardRole/fn", false},
		{iamRole, "arn:aws-cn:iam::000000000000:role/snskeyguard-TopicGuardRole", false},
		{iamRole, "arn:aws:iam::000000000000:role/snskeyguard-TopicGuardRole2", false},
		{iamRole, "arn:aws:iam::000000000000:user/snskeyguard-TopicGuardRole", false},
		{iamRole, "arn:aws:iam::000000000000:root", false},
		{iamRole, "", false},
		{"", iamRole, false},
		{"", "", false},
		{iamRole, "arn:aws:sts::000000000000:assumed-role/snskeyguard-TopicGuardRole", false},
		{iamRole, "arn:aws:sts::000000000000:federated-user/snskeyguard-TopicGuardRole", false},
		{"arn:aws:iam::000000000000:role/", "arn:aws:iam::000000000000:role/", false},
		{iamRole, "snskeyguard-TopicGuardRole", false},
	}
	for _, c := range cases {
		if got := (Request{Actor: c.actor}).IsSelf(c.self); got != c.want {
			t.Errorf("IsSelf(actor %q, self %q) = %v, want %v", c.actor, c.self, got, c.want)
		}
	}
}

func TestPartitionOf(t *testing.T) {
	for region, want := range map[string]string{"us-east-1": "aws", "eu-central-2": "aws", "ap-southeast-5": "aws",
		"cn-north-1": "aws-cn", "cn-northwest-1": "aws-cn", "us-gov-west-1": "aws-us-gov", "us-gov-east-1": "aws-us-gov",
		"us-iso-east-1": "", "us-isob-east-1": "", "eu-isoe-west-1": "", "": "", "US-EAST-1": "", "us-east": ""} {
		got, err := partitionOf(region)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("partitionOf(%q) = %q, %v; want %q", region, got, err, want)
		}
	}
}
