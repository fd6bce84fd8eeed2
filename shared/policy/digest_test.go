package policy

import "testing"

func TestDigestFollowsEqual(t *testing.T) {
	a := []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*"},{"Sid":"b","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*"}]}`)
	// Same meaning: statement order, action order and case, account id vs root ARN, layout.
	b := []byte(`{
  "Statement": [
    {"Sid":"b","Effect":"allow","Principal":{"Service":"CloudWatch.amazonaws.com"},"Action":["kms:decrypt"],"Resource":"*"},
    {"Sid":"a","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":["*"]}
  ],
  "Version": "2012-10-17"
}`)
	// Different: a Sid changed.
	c := []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*"},{"Sid":"c","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*"}]}`)
	da, db, dc := parseBytes(t, a), parseBytes(t, b), parseBytes(t, c)
	if !da.Equal(db) || da.Digest() != db.Digest() {
		t.Errorf("equal documents: Equal %v, digests %s %s", da.Equal(db), da.Digest(), db.Digest())
	}
	if da.Equal(dc) || da.Digest() == dc.Digest() {
		t.Errorf("different documents share a digest %s", da.Digest())
	}
	if !da.Has(db.Statements[1]) || da.Has(dc.Statements[1]) {
		t.Errorf("Has: want the first statement of b found in a and the second of c not")
	}
}

func parseBytes(t *testing.T, b []byte) *Document {
	t.Helper()
	d, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
