package awsedge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
)

const (
	selKeyARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	selKeyID  = "1234abcd-12ab-34cd-56ef-1234567890ab"
)

var selRefs = []string{selKeyARN, selKeyID, "alias/orders", "arn:aws:kms:us-east-1:111122223333:alias/orders", selKeyID, " "}

const selWantExpr = "SELECT arn, resourceId WHERE resourceType = 'AWS::SNS::Topic' AND configuration.KmsMasterKeyId IN (" +
	"'1234abcd-12ab-34cd-56ef-1234567890ab', 'alias/orders', 'arn:aws:kms:us-east-1:111122223333:alias/orders', " +
	"'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab')"

// selectHandler answers SelectResourceConfig from per-expression pages.
func selectHandler(t *testing.T, pages map[string][][]string) func(c call) *http.Response {
	return func(c call) *http.Response {
		if c.Op != "SelectResourceConfig" {
			t.Errorf("unexpected call %s", c.Op)
			return jsonErr(400, "UnknownOperationException", c.Op)
		}
		in := c.JSON(t)
		expr, _ := in["Expression"].(string)
		ps, ok := pages[expr]
		if !ok {
			t.Errorf("unexpected expression %q", expr)
			return jsonErr(400, "InvalidExpressionException", expr)
		}
		i := 0
		if tok, _ := in["NextToken"].(string); tok != "" {
			i = int(tok[0] - '0')
		}
		out := map[string]any{"Results": ps[i]}
		if i+1 < len(ps) {
			out["NextToken"] = string(rune('0' + i + 1))
		}
		return jsonOK(out)
	}
}

func TestSelectTopicsByKeyAllPagesOneQuery(t *testing.T) {
	e, r := newTestEdge(t, Options{}, selectHandler(t, map[string][][]string{selWantExpr: {
		{`{"arn":"arn:aws:sns:us-east-1:111122223333:orders","resourceId":"arn:aws:sns:us-east-1:111122223333:orders"}`,
			`{"resourceId":"arn:aws:sns:us-east-1:111122223333:alarms"}`},
		{`{"arn":"arn:aws:sns:us-east-1:111122223333:orders"}`, `{"arn":"arn:aws:sns:us-east-1:111122223333:billing"}`},
	}}))
	a, _ := e.Account(context.Background(), "")
	got, err := a.SelectTopicsByKey(context.Background(), selKeyARN, selRefs)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"arn:aws:sns:us-east-1:111122223333:alarms", "arn:aws:sns:us-east-1:111122223333:billing", "arn:aws:sns:us-east-1:111122223333:orders"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("topics = %q, want %q", got, want)
	}
	if ops := r.Ops(); !reflect.DeepEqual(ops, []string{"SelectResourceConfig", "SelectResourceConfig"}) {
		t.Errorf("calls = %v, want two pages of one query", ops)
	}
	if c := e.Calls(); !reflect.DeepEqual(c, map[string]int{"ConfigService.SelectResourceConfig": 2}) {
		t.Errorf("counted calls = %v", c)
	}
}

func TestSelectTopicsByKeyEmptyAnswer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		count     []string
		wantEmpty bool
	}{
		{"Config records topics: trusted", []string{`{"COUNT(*)":12}`}, true},
		{"Config records no topic", []string{`{"COUNT(*)":0}`}, false},
		{"no count row", []string{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, r := newTestEdge(t, Options{}, selectHandler(t, map[string][][]string{
				selWantExpr: {{}}, countTopicsExpression: {tc.count},
			}))
			a, _ := e.Account(context.Background(), "")
			got, err := a.SelectTopicsByKey(context.Background(), selKeyARN, selRefs)
			if tc.wantEmpty {
				if err != nil || got == nil || len(got) != 0 {
					t.Fatalf("got %q, %v; want an empty non-nil list", got, err)
				}
			} else if !errors.Is(err, ErrSelectUnavailable) || got != nil {
				t.Fatalf("got %q, %v; want ErrSelectUnavailable", got, err)
			}
			if n := len(r.Calls()); n != 2 {
				t.Errorf("%d calls, want the query and the count", n)
			}
		})
	}
}

func TestSelectTopicsByKeyErrors(t *testing.T) {
	for _, tc := range []struct {
		code        string
		unavailable bool
		class       Class
	}{
		{"NoSuchConfigurationRecorderException", true, Other},
		{"NoAvailableConfigurationRecorderException", true, Other},
		{"AccessDeniedException", true, AccessDenied},
		{"UnknownOperationException", true, Other},
		{"InvalidExpressionException", true, Other},
		{"ThrottlingException", false, Retryable},
		{"InvalidNextTokenException", false, Invalid},
	} {
		t.Run(tc.code, func(t *testing.T) {
			e, _ := newTestEdge(t, Options{MaxAttempts: 1}, func(c call) *http.Response { return jsonErr(400, tc.code, "no") })
			a, _ := e.Account(context.Background(), "")
			got, err := a.SelectTopicsByKey(context.Background(), selKeyARN, selRefs)
			if err == nil || got != nil {
				t.Fatalf("got %q, %v; want an error", got, err)
			}
			if errors.Is(err, ErrSelectUnavailable) != tc.unavailable {
				t.Errorf("errors.Is(ErrSelectUnavailable) = %v, want %v (%v)", !tc.unavailable, tc.unavailable, err)
			}
			var u interface{ Unavailable() bool }
			if errors.As(err, &u) != tc.unavailable {
				t.Errorf("errors.As(Unavailable) mismatch for %v", err)
			}
			if c := Classify(err); c != tc.class {
				t.Errorf("Classify = %v, want %v", c, tc.class)
			}
			if ErrorCode(err) != tc.code {
				t.Errorf("ErrorCode = %q, want %q", ErrorCode(err), tc.code)
			}
		})
	}
}

func TestSelectTopicsByKeyRefusesUnquotableRefs(t *testing.T) {
	for _, refs := range [][]string{nil, {"", " "}, {"alias/x' OR '1'='1"}} {
		e, r := newTestEdge(t, Options{}, func(c call) *http.Response { return jsonOK(map[string]any{}) })
		a, _ := e.Account(context.Background(), "")
		if _, err := a.SelectTopicsByKey(context.Background(), selKeyARN, refs); !errors.Is(err, ErrSelectUnavailable) {
			t.Errorf("refs %q: err = %v, want ErrSelectUnavailable", refs, err)
		}
		if n := len(r.Calls()); n != 0 {
			t.Errorf("refs %q: %d calls, want none", refs, n)
		}
	}
}

// TestSelectTopicsByKeyFakeConfig goes through the SDK's endpoint variable to
// the emulator package's Config fake (100-row pages) and, for "no Config",
// to kumo itself, which has no Config API.
func TestSelectTopicsByKeyFakeConfig(t *testing.T) {
	fc := emulator.NewFakeConfigForTest(t)
	var rows []string
	var want []string
	for i := range 250 {
		arn := fmt.Sprintf("arn:aws:sns:us-east-1:111122223333:t%03d", 249-i)
		rows = append(rows, `{"arn":"`+arn+`","resourceId":"`+arn+`"}`)
		want = append(want, arn)
	}
	fc.SetResources(rows...)
	hermetic(t)
	t.Setenv("AWS_ENDPOINT_URL_CONFIG_SERVICE", fc.URL)
	e, err := Load(context.Background(), Options{Region: "us-east-1", MaxAttempts: 1, AttemptTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := e.Account(context.Background(), "")
	got, err := a.SelectTopicsByKey(context.Background(), selKeyARN, selRefs)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %d topics, want %d", len(got), len(want))
	}
	if q := fc.Queries(); len(q) != 3 || q[0] != selWantExpr {
		t.Errorf("queries = %q, want the one expression on 3 pages", q)
	}

	k := emulator.NewKumo(t, emulator.KumoOptions{})
	t.Setenv("AWS_ENDPOINT_URL_CONFIG_SERVICE", k.URL)
	e, err = Load(context.Background(), Options{Region: "us-east-1", MaxAttempts: 1, AttemptTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a, _ = e.Account(context.Background(), "")
	if got, err := a.SelectTopicsByKey(context.Background(), selKeyARN, selRefs); !errors.Is(err, ErrSelectUnavailable) {
		t.Errorf("kumo: got %q, %v; want ErrSelectUnavailable", got, err)
	}
}

func hermetic(t *testing.T) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": t.TempDir() + "/none", "AWS_SHARED_CREDENTIALS_FILE": t.TempDir() + "/none",
		"AWS_CA_BUNDLE": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_KMS": "", "AWS_ENDPOINT_URL_SNS": "",
	} {
		t.Setenv(k, v)
	}
}
