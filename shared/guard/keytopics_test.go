package guard

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

type unavailableErr struct{}

func (unavailableErr) Error() string     { return "Config records no topics" }
func (unavailableErr) Unavailable() bool { return true }

// fakeSelector records what selectTopicsByKey asks.
type fakeSelector struct {
	arns       []string
	err        error
	aliases    []string
	aliasErr   error
	gotRefs    []string
	gotKey     string
	aliasCalls int
	selects    int
}

func (f *fakeSelector) SelectTopicsByKey(_ context.Context, keyARN string, refs []string) ([]string, error) {
	f.selects++
	f.gotKey, f.gotRefs = keyARN, refs
	return f.arns, f.err
}

func (f *fakeSelector) KeyAliases(context.Context, string) ([]string, error) {
	f.aliasCalls++
	return f.aliases, f.aliasErr
}

const (
	ktKeyID  = "1234abcd-12ab-34cd-56ef-1234567890ab"
	ktKeyARN = "arn:aws:kms:us-east-1:111122223333:key/" + ktKeyID
)

func TestSelectTopicsByKeyRefsAndResult(t *testing.T) {
	sel := &fakeSelector{
		arns:    []string{"arn:aws:sns:us-east-1:111122223333:b", "arn:aws:sns:us-east-1:111122223333:a", "arn:aws:sns:us-east-1:111122223333:b", ""},
		aliases: []string{"alias/orders", "alias/billing"},
	}
	key := rules.Key{ARN: ktKeyARN, ID: ktKeyID, NamedAs: "alias/orders"}
	arns, ok, err := selectTopicsByKey(context.Background(), sel, key)
	if err != nil || !ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if want := []string{"arn:aws:sns:us-east-1:111122223333:a", "arn:aws:sns:us-east-1:111122223333:b"}; !reflect.DeepEqual(arns, want) {
		t.Errorf("arns = %q, want %q", arns, want)
	}
	wantRefs := []string{ktKeyARN, ktKeyID,
		"alias/orders", "arn:aws:kms:us-east-1:111122223333:alias/orders",
		"alias/billing", "arn:aws:kms:us-east-1:111122223333:alias/billing"}
	if !reflect.DeepEqual(sel.gotRefs, wantRefs) || sel.gotKey != ktKeyARN {
		t.Errorf("refs = %q (key %s), want %q", sel.gotRefs, sel.gotKey, wantRefs)
	}
	if sel.aliasCalls != 1 || sel.selects != 1 {
		t.Errorf("aliases read %d times, selects %d; want 1 and 1", sel.aliasCalls, sel.selects)
	}
}

func TestSelectTopicsByKeyKnownAliasesAndIDFromARN(t *testing.T) {
	sel := &fakeSelector{arns: nil}
	// Aliases already read (non-nil, even empty) are not read again; the id
	// comes from the ARN when DescribeKey's id is missing; a NamedAs that is
	// none of the spellings (an alias just deleted) is still looked for.
	key := rules.Key{ARN: ktKeyARN, Aliases: []string{}, NamedAs: "alias/old"}
	arns, ok, err := selectTopicsByKey(context.Background(), sel, key)
	if err != nil || !ok || arns == nil || len(arns) != 0 {
		t.Fatalf("arns=%q ok=%v err=%v; want an empty non-nil list, ok", arns, ok, err)
	}
	if want := []string{ktKeyARN, ktKeyID, "alias/old"}; !reflect.DeepEqual(sel.gotRefs, want) {
		t.Errorf("refs = %q, want %q", sel.gotRefs, want)
	}
	if sel.aliasCalls != 0 {
		t.Errorf("aliases read %d times, want 0", sel.aliasCalls)
	}
}

func TestSelectTopicsByKeyFallsBack(t *testing.T) {
	good := rules.Key{ARN: ktKeyARN, ID: ktKeyID, Aliases: []string{}}
	for _, tc := range []struct {
		name    string
		sel     *fakeSelector
		key     rules.Key
		selects int
	}{
		{"no selector", nil, good, 0},
		{"key not read", &fakeSelector{}, rules.Key{NamedAs: "alias/x"}, 0},
		{"key read error", &fakeSelector{}, rules.Key{ARN: ktKeyARN, ReadError: rules.KeyReadAccessDenied}, 0},
		{"Config unavailable", &fakeSelector{err: unavailableErr{}}, good, 1},
		{"Config unavailable, wrapped", &fakeSelector{err: errorsJoin(unavailableErr{})}, good, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sel Selector
			if tc.sel != nil {
				sel = tc.sel
			}
			arns, ok, err := selectTopicsByKey(context.Background(), sel, tc.key)
			if arns != nil || ok || err != nil {
				t.Fatalf("arns=%q ok=%v err=%v; want nil, false, nil", arns, ok, err)
			}
			if tc.sel != nil && tc.sel.selects != tc.selects {
				t.Errorf("selects = %d, want %d", tc.sel.selects, tc.selects)
			}
		})
	}
}

func errorsJoin(err error) error { return errors.Join(errors.New("select"), err) }

func TestSelectTopicsByKeyReturnsFaults(t *testing.T) {
	throttled := apiErr("ThrottlingException")
	for _, sel := range []*fakeSelector{{err: throttled}, {aliasErr: throttled}} {
		arns, ok, err := selectTopicsByKey(context.Background(), sel, rules.Key{ARN: ktKeyARN})
		if arns != nil || ok || !errors.Is(err, throttled) {
			t.Errorf("arns=%q ok=%v err=%v; want the throttling error", arns, ok, err)
		}
	}
}
