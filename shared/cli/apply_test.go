package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
	"github.com/snskeyguard/snskeyguard/shared/scan"
)

// answer is a terminal's stdin: before the answer is read, it runs what a
// person might do meanwhile (edit a key policy in another window).
type answer struct {
	once   sync.Once
	before func()
	r      io.Reader
}

func (a *answer) Read(p []byte) (int, error) {
	a.once.Do(func() {
		if a.before != nil {
			a.before()
		}
	})
	return a.r.Read(p)
}

func demoScan(t *testing.T) (*emulator.Demo, []string) {
	t.Helper()
	stack, d := emulator.NewDemo(t)
	for k, v := range stack.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_XRAY_SDK_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	return d, []string{"scan", "--apply", "--required-principals", "cloudwatch.amazonaws.com,events.amazonaws.com",
		"--discover-sources=false", "--remediation-key-id", "alias/orders-key"}
}

// A "no" (or anything but yes) on the terminal writes nothing.
func TestApplyDeclined(t *testing.T) {
	d, args := demoScan(t)
	var out, errOut bytes.Buffer
	code := Main(t.Context(), args, IO{Stdin: strings.NewReader("no\n"), Stdout: &out, Stderr: &errOut, StdinTerminal: true})
	if code != scan.ExitFindings || !strings.Contains(errOut.String(), "Write these 4 fix(es) to account 000000000000? Only 'yes' writes: Nothing written.") {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	pols, err := d.KeyPolicies(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for arn, p := range pols {
		if !bytes.Equal(p, d.Policies[arn]) {
			t.Errorf("declined --apply changed %s", d.Keys[arn])
		}
	}
	if strings.Contains(out.String(), "After --apply") {
		t.Errorf("declined --apply ran the fixes:\n%s", out.String())
	}
}

// The policy of a key is edited by someone else after the plan was shown and
// before the user says yes: the guard re-plans on top of the edit (as in
// the functions), and the scan refuses to write that fix, which the user did
// not see. The edit is kept; the other confirmed fixes are written.
func TestApplyRefusesAFixChangedAfterItWasShown(t *testing.T) {
	d, args := demoScan(t)
	alarms := emulator.DemoKeyARN(emulator.DemoAlarmsKeyID)
	var doc map[string]any
	if err := json.Unmarshal(d.Policies[alarms], &doc); err != nil {
		t.Fatal(err)
	}
	doc["Statement"] = append([]any{map[string]any{"Sid": "OutsideEdit", "Effect": "Allow",
		"Principal": map[string]any{"AWS": "arn:aws:iam::000000000000:role/Reader"}, "Action": "kms:DescribeKey", "Resource": "*"}},
		doc["Statement"].([]any)...)
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	edited := string(raw)
	in := &answer{r: strings.NewReader("yes\n"), before: func() {
		if _, err := d.KMS.PutKeyPolicy(context.Background(), &kms.PutKeyPolicyInput{KeyId: aws.String(alarms),
			PolicyName: aws.String("default"), Policy: aws.String(edited)}); err != nil {
			t.Error(err)
		}
	}}
	var out, errOut bytes.Buffer
	code := Main(t.Context(), args, IO{Stdin: in, Stdout: &out, Stderr: &errOut, StdinTerminal: true})
	if code != scan.ExitFindings {
		t.Fatalf("exit %d, want 1 (alarms not fixed)\n%s\n%s", code, out.String(), errOut.String())
	}
	_, after, _ := strings.Cut(out.String(), "After --apply:")
	for _, want := range []string{
		"# PutKeyPolicy " + alarms + " for alarms: failed (put key policy (" + alarms + "): the fix differs from the one shown: " + ErrNotConfirmed.Error() + ")",
		"# PutKeyPolicy " + emulator.DemoKeyARN(emulator.DemoEventsKeyID) + " for events-bus: applied",
		"alarms              alias/alarms-key          NON_COMPLIANT",
	} {
		if !strings.Contains(after, want) {
			t.Errorf("result lacks %q:\n%s", want, after)
		}
	}
	pols, err := d.KeyPolicies(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if string(pols[alarms]) != edited {
		t.Errorf("the outside edit was overwritten:\n%s", pols[alarms])
	}
	events := emulator.DemoKeyARN(emulator.DemoEventsKeyID)
	if bytes.Equal(pols[events], d.Policies[events]) {
		t.Error("the confirmed events-key fix was not written")
	}
}
