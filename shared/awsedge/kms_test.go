package awsedge

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

const (
	testKeyID  = "1234abcd-12ab-34cd-56ef-1234567890ab"
	testKeyARN = "arn:aws:kms:us-east-1:111122223333:key/" + testKeyID
)

func keyMetadata() map[string]any {
	return map[string]any{"KeyMetadata": map[string]any{
		"Arn": testKeyARN, "KeyId": testKeyID, "KeyManager": "CUSTOMER", "KeySpec": "SYMMETRIC_DEFAULT",
		"KeyUsage": "ENCRYPT_DECRYPT", "KeyState": "Enabled", "AWSAccountId": "111122223333", "Origin": "AWS_KMS",
	}}
}

func callerIdentity(arn string) *http.Response {
	return queryOK("GetCallerIdentity", stsNS, `<Arn>`+arn+`</Arn><UserId>AROA:fn</UserId><Account>111122223333</Account>`)
}

func TestDescribeKeyFillsModel(t *testing.T) {
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response {
		if c.Op != "DescribeKey" || c.JSON(t)["KeyId"] != "alias/orders" {
			t.Fatalf("unexpected call %s %s", c.Op, c.Body)
		}
		return jsonOK(keyMetadata())
	})
	a, _ := e.Account(context.Background(), "")
	got, err := a.DescribeKey(context.Background(), "alias/orders")
	if err != nil {
		t.Fatal(err)
	}
	want := rules.Key{ARN: testKeyARN, ID: testKeyID, Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT",
		Usage: "ENCRYPT_DECRYPT", Origin: "AWS_KMS", State: "Enabled", NamedAs: "alias/orders"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if ops := r.Ops(); !reflect.DeepEqual(ops, []string{"DescribeKey"}) {
		t.Fatalf("ops %v", ops)
	}
}

// kumo cannot DescribeKey an alias ARN; the edge falls back to the alias
// name, but only after confirming the ARN is in its own account and region.
func TestDescribeKeyAliasARNFallback(t *testing.T) {
	const aliasARN = "arn:aws:kms:us-east-1:111122223333:alias/orders"
	handle := func(c call) *http.Response {
		switch c.Op {
		case "GetCallerIdentity":
			return callerIdentity("arn:aws:sts::111122223333:assumed-role/guard-role/topic-guard")
		case "DescribeKey":
			if c.JSON(t)["KeyId"] == "alias/orders" {
				return jsonOK(keyMetadata())
			}
			return jsonErr(400, "NotFoundException", "Alias "+c.JSON(t)["KeyId"].(string)+" is not found.")
		}
		t.Fatalf("unexpected op %s", c.Op)
		return nil
	}
	e, r := newTestEdge(t, Options{}, handle)
	a, _ := e.Account(context.Background(), "")
	got, err := a.DescribeKey(context.Background(), aliasARN)
	if err != nil {
		t.Fatal(err)
	}
	if got.ARN != testKeyARN || got.NamedAs != aliasARN {
		t.Fatalf("got %+v", got)
	}
	if ops := r.Ops(); !reflect.DeepEqual(ops, []string{"DescribeKey", "GetCallerIdentity", "DescribeKey"}) {
		t.Fatalf("ops %v", ops)
	}

	// Another account's alias ARN must not resolve to our own alias.
	_, err = a.DescribeKey(context.Background(), "arn:aws:kms:us-east-1:999988887777:alias/orders")
	if Classify(err) != NotFound || !strings.Contains(err.Error(), "describe key (arn:aws:kms:us-east-1:999988887777:alias/orders)") {
		t.Fatalf("err %v class %v", err, Classify(err))
	}
	// Nor another region's.
	_, err = a.DescribeKey(context.Background(), "arn:aws:kms:eu-west-1:111122223333:alias/orders")
	if Classify(err) != NotFound {
		t.Fatalf("err %v", err)
	}
	want := []string{"DescribeKey", "GetCallerIdentity", "DescribeKey", "DescribeKey", "DescribeKey"}
	if ops := r.Ops(); !reflect.DeepEqual(ops, want) {
		t.Fatalf("ops %v want %v (identity cached, no fallback outside the account/region)", ops, want)
	}
}

func TestKeyPolicyReadsDefault(t *testing.T) {
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response {
		return jsonOK(map[string]any{"Policy": `{"Version":"2012-10-17","Statement":[]}`, "PolicyName": "default"})
	})
	a, _ := e.Account(context.Background(), "")
	p, err := a.KeyPolicy(context.Background(), testKeyARN)
	if err != nil || string(p) != `{"Version":"2012-10-17","Statement":[]}` {
		t.Fatalf("%q %v", p, err)
	}
	body := r.Calls()[0].JSON(t)
	if r.Calls()[0].Target != "TrentService.GetKeyPolicy" || body["PolicyName"] != "default" || body["KeyId"] != testKeyARN {
		t.Fatalf("request %s %v", r.Calls()[0].Target, body)
	}
}

func TestPutKeyPolicyNeverBypassesLockoutCheck(t *testing.T) {
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response { return jsonOK(map[string]any{}) })
	a, _ := e.Account(context.Background(), "")
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}]}`
	if err := a.PutKeyPolicy(context.Background(), testKeyARN, []byte(policy)); err != nil {
		t.Fatal(err)
	}
	calls := r.Calls()
	if len(calls) != 1 || calls[0].Target != "TrentService.PutKeyPolicy" {
		t.Fatalf("calls %v", r.Ops())
	}
	body := calls[0].JSON(t)
	want := map[string]any{"KeyId": testKeyARN, "PolicyName": "default", "Policy": policy}
	if !reflect.DeepEqual(body, want) {
		t.Fatalf("request body %v\nwant %v", body, want)
	}
	if strings.Contains(string(calls[0].Body), "Bypass") {
		t.Fatalf("request mentions the bypass flag: %s", calls[0].Body)
	}

	// Invalid or oversized policies never reach KMS.
	for name, p := range map[string][]byte{
		"truncated": []byte(policy[:40]),
		"oversized": []byte(`{"Sid":"` + strings.Repeat("x", MaxKeyPolicyBytes) + `"}`),
		"empty":     nil,
	} {
		err := a.PutKeyPolicy(context.Background(), testKeyARN, p)
		if !errors.Is(err, ErrPolicyRejected) {
			t.Errorf("%s: err %v, want ErrPolicyRejected", name, err)
		}
	}
	if len(r.Calls()) != 1 {
		t.Fatalf("rejected policies were sent: %v", r.Ops())
	}
	// Exactly the limit is allowed.
	limit := []byte(`{"Sid":"` + strings.Repeat("x", MaxKeyPolicyBytes-10) + `"}`)
	if len(limit) != MaxKeyPolicyBytes {
		t.Fatalf("test policy is %d bytes", len(limit))
	}
	if err := a.PutKeyPolicy(context.Background(), testKeyARN, limit); err != nil {
		t.Fatalf("policy of exactly %d bytes: %v", MaxKeyPolicyBytes, err)
	}
}

func TestKeyAliasesAndTagsPaginate(t *testing.T) {
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response {
		b := c.JSON(t)
		switch c.Op {
		case "ListAliases":
			if b["Marker"] == nil {
				return jsonOK(map[string]any{"Aliases": []any{map[string]any{"AliasName": "alias/a"}}, "Truncated": true, "NextMarker": "m1"})
			}
			return jsonOK(map[string]any{"Aliases": []any{map[string]any{"AliasName": "alias/b"}}, "Truncated": false})
		case "ListResourceTags":
			if b["Marker"] == nil {
				return jsonOK(map[string]any{"Tags": []any{map[string]any{"TagKey": "team", "TagValue": "pay"}}, "Truncated": true, "NextMarker": "m1"})
			}
			return jsonOK(map[string]any{"Tags": []any{map[string]any{"TagKey": "guard-exempt", "TagValue": "yes"}}})
		}
		return jsonErr(400, "UnknownOperationException", c.Op)
	})
	a, _ := e.Account(context.Background(), "")
	aliases, err := a.KeyAliases(context.Background(), testKeyID)
	if err != nil || !reflect.DeepEqual(aliases, []string{"alias/a", "alias/b"}) {
		t.Fatalf("%v %v", aliases, err)
	}
	tags, err := a.KeyTags(context.Background(), testKeyID)
	if err != nil || !reflect.DeepEqual(tags, map[string]string{"team": "pay", "guard-exempt": "yes"}) {
		t.Fatalf("%v %v", tags, err)
	}
	if got := r.Calls()[0].JSON(t)["KeyId"]; got != testKeyID {
		t.Fatalf("ListAliases KeyId %v", got)
	}
	if c := e.Calls(); !reflect.DeepEqual(c, map[string]int{"KMS.ListAliases": 2, "KMS.ListResourceTags": 2}) {
		t.Fatalf("calls %v", c)
	}
}
