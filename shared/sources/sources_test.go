package sources

import (
	"strings"
	"testing"
)

// seedPrincipals is the SNS documentation's service-principal table, verbatim.
var seedPrincipals = []string{
	"cloudwatch.amazonaws.com",
	"events.amazonaws.com",
	"codecommit.amazonaws.com",
	"codestar-notifications.amazonaws.com",
	"dms.amazonaws.com",
	"ds.amazonaws.com",
	"dynamodb.amazonaws.com",
	"inspector.amazonaws.com",
	"redshift.amazonaws.com",
	"events.rds.amazonaws.com",
	"glacier.amazonaws.com",
	"ses.amazonaws.com",
	"s3.amazonaws.com",
	"importexport.amazonaws.com",
	"ssm-incidents.amazonaws.com",
	"ssm-contacts.amazonaws.com",
}

// roleSources is the SNS guide's list of sources that need an IAM role.
var roleSources = []string{
	"autoscaling.amazonaws.com",
	"elastictranscoder.amazonaws.com",
	"codepipeline.amazonaws.com",
	"config.amazonaws.com",
	"elasticbeanstalk.amazonaws.com",
	"iot.amazonaws.com",
	"imagebuilder.amazonaws.com",
}

func TestSeedRowsPresent(t *testing.T) {
	for _, p := range seedPrincipals {
		s, ok := Lookup(p)
		if !ok {
			t.Errorf("%s missing from the table", p)
			continue
		}
		if !InTable(p) {
			t.Errorf("InTable(%s) = false, want true", p)
		}
		if s.NeedsRole {
			t.Errorf("%s: NeedsRole = true", p)
		}
		if s.Name == "" || s.Publishes == "" {
			t.Errorf("%s: empty Name or Publishes", p)
		}
		if want := p != "events.amazonaws.com"; s.ConfusedDeputy != want {
			t.Errorf("%s: ConfusedDeputy = %v, want %v", p, s.ConfusedDeputy, want)
		}
		if (s.ARNPattern == "") == s.ConfusedDeputy {
			t.Errorf("%s: ARNPattern %q inconsistent with ConfusedDeputy %v", p, s.ARNPattern, s.ConfusedDeputy)
		}
	}
	// Exactly the documentation's rows plus the role rows: nothing slipped in.
	if got, want := len(All()), len(seedPrincipals)+len(roleSources); got != want {
		t.Errorf("table has %d rows, want %d", got, want)
	}
}

func TestNeedsRoleRowsNotInTable(t *testing.T) {
	for _, p := range roleSources {
		s, ok := Lookup(p)
		if !ok || !s.NeedsRole {
			t.Errorf("%s: Lookup ok=%v NeedsRole=%v, want both true", p, ok, s.NeedsRole)
		}
		if InTable(p) {
			t.Errorf("InTable(%s) = true for a source that needs a role", p)
		}
		if s.ARNPattern != "" {
			t.Errorf("%s: a role source has ARNPattern %q", p, s.ARNPattern)
		}
	}
	for _, p := range []string{"lambda.amazonaws.com", "*", "", "arn:aws:iam::111122223333:root", "sns.amazonaws.com"} {
		if InTable(p) {
			t.Errorf("InTable(%q) = true", p)
		}
	}
}

func TestLookupCaseAndSpace(t *testing.T) {
	s, ok := Lookup("  S3.AmazonAWS.com ")
	if !ok || s.Principal != "s3.amazonaws.com" {
		t.Fatalf("Lookup(S3 mixed case) = %+v, %v", s, ok)
	}
}

func TestSourceARNPerPartition(t *testing.T) {
	want := map[string]string{
		"cloudwatch.amazonaws.com":             "arn:{P}:cloudwatch:{R}:{A}:alarm:*",
		"events.amazonaws.com":                 "",
		"codecommit.amazonaws.com":             "arn:{P}:codecommit:{R}:{A}:*",
		"codestar-notifications.amazonaws.com": "arn:{P}:codestar-notifications:{R}:{A}:*",
		"dms.amazonaws.com":                    "arn:{P}:dms:{R}:{A}:*",
		"ds.amazonaws.com":                     "arn:{P}:ds:{R}:{A}:*",
		"dynamodb.amazonaws.com":               "arn:{P}:*:{R}:{A}:*",
		"inspector.amazonaws.com":              "arn:{P}:inspector:{R}:{A}:*",
		"redshift.amazonaws.com":               "arn:{P}:redshift:{R}:{A}:*",
		"events.rds.amazonaws.com":             "arn:{P}:rds:{R}:{A}:*",
		"glacier.amazonaws.com":                "arn:{P}:glacier:{R}:{A}:*",
		"ses.amazonaws.com":                    "arn:{P}:ses:{R}:{A}:*",
		"s3.amazonaws.com":                     "arn:{P}:s3:::*",
		"importexport.amazonaws.com":           "arn:{P}:*:*:{A}:*",
		"ssm-incidents.amazonaws.com":          "arn:{P}:ssm-incidents:*:{A}:*",
		"ssm-contacts.amazonaws.com":           "arn:{P}:ssm-contacts:*:{A}:*",
	}
	cases := []struct{ partition, region, account string }{
		{"aws", "us-east-1", "111122223333"},
		{"aws-cn", "cn-north-1", "444455556666"},
		{"aws-us-gov", "us-gov-west-1", "777788889999"},
	}
	for _, c := range cases {
		for p, pattern := range want {
			s, _ := Lookup(p)
			exp := strings.NewReplacer("{P}", c.partition, "{R}", c.region, "{A}", c.account).Replace(pattern)
			got := s.SourceARN(c.partition, c.region, c.account)
			if got != exp {
				t.Errorf("%s in %s: SourceARN = %q, want %q", p, c.partition, got, exp)
			}
			if strings.Contains(got, "{") {
				t.Errorf("%s: placeholder left in %q", p, got)
			}
			if got != "" && len(strings.SplitN(got, ":", 6)) != 6 {
				t.Errorf("%s: %q does not have six ARN segments", p, got)
			}
		}
	}
}

func TestAllIsACopy(t *testing.T) {
	a := All()
	a[0].Principal = "changed"
	if _, ok := Lookup("cloudwatch.amazonaws.com"); !ok {
		t.Fatal("All() exposed the table")
	}
}
