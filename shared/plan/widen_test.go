package plan

import (
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// TestGridCatchesWidening holds the grid to the fixes it must refuse: the
// old EventBridge fix that stripped conditions from a kms:* statement, a
// statement given to another account, and a grant without conditions.
func TestGridCatchesWidening(t *testing.T) {
	in := read(t, "testdata/golden/24-events-listed-twice/input.json")
	events := Grid{Account: "111122223333", Region: "us-east-1", Grants: []rules.Grant{{Principal: "events.amazonaws.com"}}}
	stripped := []byte(`{"Version":"2012-10-17","Statement":[
	 {"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
	 {"Sid":"EventsTwice","Effect":"Allow","Principal":{"Service":["events.amazonaws.com","EVENTS.amazonaws.com"]},"Action":"kms:*","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceAccount":"999999999999"}}}]}`)
	wide, err := events.Widened(in, stripped)
	if err != nil {
		t.Fatal(err)
	}
	if !containsLine(wide, "service:events.amazonaws.com kms:PutKeyPolicy (no source keys)") || containsLine(wide, "kms:GenerateDataKey (no source keys)") {
		t.Errorf("stripping kms:* for EventBridge: widened = %q", wide)
	}
	cw := Grid{Account: "111122223333", Region: "us-east-1", Grants: []rules.Grant{{Principal: "cloudwatch.amazonaws.com",
		SourceAccounts: []string{"111122223333"}, SourceARNs: []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}}}
	base := `{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`
	for name, c := range map[string]struct {
		after string
		want  string
	}{
		"foreign root":      {`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"kms:Decrypt","Resource":"*"}`, "aws:arn:aws:iam::999988887777:root kms:Decrypt"},
		"unconditioned":     {`{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}`, "kms:GenerateDataKey (no source keys)"},
		"other account":     {`{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*","Condition":{"StringLike":{"aws:SourceAccount":"*"},"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:*:*:alarm:*"}}}`, "kms:Decrypt (other account's source)"},
		"more actions":      {`{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"},"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}}`, "kms:CreateGrant (own source)"},
		"another service":   {`{"Effect":"Allow","Principal":{"Service":"ses.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*"}`, "service:ses.amazonaws.com kms:Decrypt"},
		"possible for role": {`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/application"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"sns.us-east-1.amazonaws.com"}}}`, "role/application kms:Encrypt (no source keys): False -> Unknown"},
	} {
		before := base
		if strings.Contains(c.after, "role/application") {
			// without the root's delegation, which already covers the role
			before = `{"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/admin"},"Action":"kms:*","Resource":"*"}`
		}
		wide, err := cw.Widened([]byte(`{"Statement":[`+before+`]}`), []byte(`{"Statement":[`+before+`,`+c.after+`]}`))
		if err != nil {
			t.Fatal(err)
		}
		if !containsLine(wide, c.want) {
			t.Errorf("%s: widened = %q, want a line with %q", name, wide, c.want)
		}
	}
	// The grant itself is the exception.
	own := `{"Sid":"AllowSNSPublishersCloudwatch","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"},"ArnLike":{"aws:SourceArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}}`
	if wide, err := cw.Widened([]byte(`{"Statement":[`+base+`]}`), []byte(`{"Statement":[`+base+`,`+own+`]}`)); err != nil || len(wide) > 0 {
		t.Errorf("the grant itself: widened = %q, %v", wide, err)
	}
	if _, err := cw.Widened([]byte(`{`), []byte(`{}`)); err == nil {
		t.Error("unparseable policy: no error")
	}
}

func containsLine(lines []string, part string) bool {
	for _, l := range lines {
		if strings.Contains(l, part) {
			return true
		}
	}
	return false
}

// TestGridFollowsVersion: the grid substitutes ${...} only in 2012-10-17
// policies; elsewhere it is literal text that no request value equals.
func TestGridFollowsVersion(t *testing.T) {
	g := Grid{Account: "111122223333", Region: "us-east-1", Grants: []rules.Grant{{Principal: "cloudwatch.amazonaws.com",
		SourceAccounts: []string{"111122223333"}, SourceARNs: []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"}}}}
	base := `{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`
	ses := `{"Effect":"Allow","Principal":{"Service":"ses.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:ResourceAccount":"${aws:ResourceAccount}"}}}`
	for version, want := range map[string]bool{``: false, `"Version":"2008-10-17",`: false, `"Version":"2012-10-17",`: true} {
		wide, err := g.Widened([]byte(`{`+version+`"Statement":[`+base+`]}`), []byte(`{`+version+`"Statement":[`+base+`,`+ses+`]}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := containsLine(wide, "service:ses.amazonaws.com kms:Decrypt"); got != want {
			t.Errorf("%q: widened = %q, want ses Decrypt widened %v", version, wide, want)
		}
	}
}
