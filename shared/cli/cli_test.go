package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/guard"
	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/rules"
	"github.com/snskeyguard/snskeyguard/shared/scan"
)

func TestParse(t *testing.T) {
	o, err := parse([]string{"--region", "us-east-1,eu-west-1", "--region", "us-east-1", "--region=ap-southeast-2",
		"--required-principals", "CloudWatch.amazonaws.com, events.amazonaws.com", "--discover-sources=false",
		"--exempt-tag-key", "skip", "--remediation-key-id", "alias/k", "-o", "sarif", "--apply", "-y", "--profile", "p"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := guard.Settings{Mode: guard.ModeAlert, RequiredPrincipals: []string{"cloudwatch.amazonaws.com", "events.amazonaws.com"},
		ExemptTagKey: "skip", RemediationKeyID: "alias/k"}
	if !reflect.DeepEqual(o.Settings, want) || !reflect.DeepEqual(o.Regions, []string{"us-east-1", "eu-west-1", "ap-southeast-2"}) ||
		o.Output != "sarif" || !o.Apply || !o.Yes || o.Profile != "p" {
		t.Fatalf("options %+v", o)
	}
	// Defaults: the template's (discovery on, exemption tag snskeyguard:exempt), alert mode.
	o, err = parse(nil, io.Discard)
	if err != nil || !o.Settings.DiscoverSources || o.Settings.ExemptTagKey != DefaultExemptTagKey || o.Settings.Mode != guard.ModeAlert ||
		o.Output != OutputTable || o.Apply || o.Settings.AlertTopicARN != "" || o.Settings.SecurityHub {
		t.Fatalf("defaults %+v %v", o, err)
	}
	if o, err = parse([]string{"--discover-sources", "--exempt-tag-key="}, io.Discard); err != nil || !o.Settings.DiscoverSources || o.Settings.ExemptTagKey != "" {
		t.Fatalf("bare bool flag / empty tag: %+v %v", o, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--output", "yaml"}, `--output "yaml"`},
		{[]string{"--region", "Moon"}, `"Moon" is not an AWS region`},
		{[]string{"--region", ""}, `"" is not an AWS region`},
		{[]string{"--required-principals", "arn:aws:iam::111122223333:root"}, "--required-principals: "},
		{[]string{"--required-principals", "*.amazonaws.com"}, "--required-principals: "},
		{[]string{"--discover-sources=perhaps"}, `--discover-sources "perhaps": want true or false`},
		{[]string{"--yes"}, "--yes is only meaningful with --apply"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--nope"}, "flag provided but not defined"},
	} {
		if _, err := parse(c.args, io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}

// --apply without a terminal and without --yes is refused before any AWS
// configuration is loaded (the endpoint here would fail the first call).
func TestApplyRefusedWithoutTerminal(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"scan", "--apply", "--endpoint-url", "http://127.0.0.1:1", "--region", "us-east-1"},
		IO{Stdin: strings.NewReader("yes\n"), Stdout: &out, Stderr: &errOut})
	if code != scan.ExitError || !strings.Contains(errOut.String(), ErrNoConfirmation.Error()) || out.Len() != 0 {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", code, out.String(), errOut.String())
	}
	if strings.Contains(errOut.String(), "credentials") {
		t.Errorf("refusal came after an AWS call: %s", errOut.String())
	}
}

func TestMainUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	tio := IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut}
	if Main(context.Background(), nil, tio) != scan.ExitError {
		t.Error("no command: exit 2")
	}
	if Main(context.Background(), []string{"scan", "-h"}, tio) != 0 || !strings.Contains(errOut.String(), "Exit codes: 0 every topic compliant, 1 findings, 2 error") {
		t.Errorf("scan -h:\n%s", errOut.String())
	}
	if Main(context.Background(), []string{"version"}, tio) != 0 || !strings.HasPrefix(out.String(), "snskeyguard ") {
		t.Errorf("version: %q", out.String())
	}
}

func TestConfirm(t *testing.T) {
	for in, want := range map[string]bool{"yes\n": true, "Y\n": true, " yes ": true, "no\n": false, "\n": false, "": false, "yess\n": false} {
		var errOut bytes.Buffer
		got, err := confirm(IO{Stdin: strings.NewReader(in), Stderr: &errOut}, 2, "111122223333")
		if err != nil || got != want {
			t.Errorf("answer %q: %v %v, want %v", in, got, err, want)
		}
		if !strings.Contains(errOut.String(), "Write these 2 fix(es) to account 111122223333?") {
			t.Errorf("question %q", errOut.String())
		}
	}
}

// inner is a guard.Account that records writes; reads are not used here.
type inner struct {
	guard.Account
	puts, moves []string
}

func (i *inner) PutKeyPolicy(_ context.Context, key string, _ []byte) error {
	i.puts = append(i.puts, key)
	return nil
}

func (i *inner) SetTopicKey(_ context.Context, topic, key string) error {
	i.moves = append(i.moves, topic+"->"+key)
	return nil
}

func TestWriteGate(t *testing.T) {
	const key, other = "arn:aws:kms:us-east-1:1:key/a", "arn:aws:kms:us-east-1:1:key/b"
	shown := []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"S","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}]}`)
	// The same policy as other JSON text (order, string vs array): equal by meaning.
	same := []byte(`{"Statement":{"Resource":["*"],"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Principal":{"Service":["cloudwatch.amazonaws.com"]},"Effect":"Allow","Sid":"S"},"Version":"2012-10-17"}`)
	wider := []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"S","Effect":"Allow","Principal":"*","Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}]}`)
	ctx := context.Background()

	// Without --apply every write is refused.
	in := &inner{}
	a := &account{Account: in, rec: newRecorder()}
	if err := a.PutKeyPolicy(ctx, key, shown); !errors.Is(err, ErrNotConfirmed) {
		t.Errorf("alert scan put: %v", err)
	}
	if err := a.SetTopicKey(ctx, "t", key); !errors.Is(err, ErrNotConfirmed) {
		t.Errorf("alert scan set topic key: %v", err)
	}
	for _, err := range []error{a.Publish(ctx, "t", "s", "m", nil), a.PutEvaluations(ctx, "tok", nil), a.ImportFindings(ctx, nil)} {
		if !errors.Is(err, ErrNotConfirmed) {
			t.Errorf("send: %v", err)
		}
	}
	if len(in.puts)+len(in.moves) != 0 {
		t.Fatalf("writes reached AWS: %v %v", in.puts, in.moves)
	}

	// With --apply only the confirmed fixes pass.
	a.confirmed = newConfirmed([]scan.Fix{
		{Type: report.ActionPutKeyPolicy, KeyARN: key, Status: report.StatusPlanned, After: shown},
		{Type: report.ActionSetTopicKey, TopicARN: "t", KeyARN: key, Status: report.StatusPlanned},
	})
	if err := a.PutKeyPolicy(ctx, key, same); err != nil {
		t.Errorf("confirmed policy refused: %v", err)
	}
	if err := a.PutKeyPolicy(ctx, key, wider); !errors.Is(err, ErrNotConfirmed) || !strings.Contains(err.Error(), "differs from the one shown") {
		t.Errorf("another policy: %v", err)
	}
	if err := a.PutKeyPolicy(ctx, other, shown); !errors.Is(err, ErrNotConfirmed) {
		t.Errorf("another key: %v", err)
	}
	if err := a.PutKeyPolicy(ctx, key, []byte("{not json")); !errors.Is(err, ErrNotConfirmed) {
		t.Errorf("unparseable: %v", err)
	}
	if err := a.SetTopicKey(ctx, "t", other); !errors.Is(err, ErrNotConfirmed) {
		t.Errorf("another key for the topic: %v", err)
	}
	if err := a.SetTopicKey(ctx, "u", key); !errors.Is(err, ErrNotConfirmed) {
		t.Errorf("another topic: %v", err)
	}
	if err := a.SetTopicKey(ctx, "t", key); err != nil {
		t.Errorf("confirmed move refused: %v", err)
	}
	if !reflect.DeepEqual(in.puts, []string{key}) || !reflect.DeepEqual(in.moves, []string{"t->" + key}) {
		t.Errorf("writes %v %v", in.puts, in.moves)
	}
}

// reads answers topic reads for the recorder and progress.
type reads struct {
	guard.Account
	topics map[string]string
}

func (r reads) ListTopics(context.Context) ([]string, error) { return []string{"a", "b"}, nil }
func (r reads) GetTopic(_ context.Context, arn string) (rules.Topic, error) {
	return rules.Topic{ARN: arn, KMSMasterKeyID: r.topics[arn]}, nil
}
func (r reads) DescribeKey(context.Context, string) (rules.Key, error) { return rules.Key{}, nil }

func TestRecorderAndProgress(t *testing.T) {
	var errOut bytes.Buffer
	p := newProgress(&errOut, false, false).start("us-east-1")
	rd := reads{topics: map[string]string{"a": "alias/a", "b": ""}}
	a := &account{Account: rd, rec: newRecorder(), progress: p}
	ctx := context.Background()
	if got := p.line(); got != "reading us-east-1: listing topics" {
		t.Errorf("before listing: %q", got)
	}
	_, _ = a.ListTopics(ctx)
	_, _ = a.GetTopic(ctx, "a")
	_, _ = a.DescribeKey(ctx, "alias/a")
	if got := p.line(); got != "reading us-east-1 [############............] 1/2 topics, 1 keys" {
		t.Errorf("halfway: %q", got)
	}
	_, _ = a.GetTopic(ctx, "b")
	rd.topics["a"] = "alias/moved" // a re-read after a move: the first key is kept
	_, _ = a.GetTopic(ctx, "a")
	p.stop()
	if got := a.rec.topicKeys(); !reflect.DeepEqual(got, map[string]string{"a": "alias/a", "b": ""}) {
		t.Errorf("recorded keys %v", got)
	}
	if s := errOut.String(); !strings.HasPrefix(s, "snskeyguard: reading us-east-1\nsnskeyguard: us-east-1: 2 topics, 1 keys read in ") || strings.Contains(s, "\r") {
		t.Errorf("plain progress %q", s)
	}
	// On a terminal the line is redrawn in place and cleared at the end.
	errOut.Reset()
	q := newProgress(&errOut, true, false).start("eu-west-1")
	q.stop()
	if s := errOut.String(); !strings.HasPrefix(s, "\r\x1b[Kreading eu-west-1") || !strings.HasSuffix(s, "\r\x1b[K") {
		t.Errorf("terminal progress %q", s)
	}
	errOut.Reset()
	newProgress(&errOut, true, true).start("x").stop()
	if errOut.Len() != 0 {
		t.Errorf("--quiet wrote %q", errOut.String())
	}
}

func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(r) || isTerminal(w) {
		t.Error("a pipe is not a terminal")
	}
	if f, err := os.Open(os.DevNull); err == nil {
		defer f.Close()
		if isTerminal(f) {
			t.Error("/dev/null is not a terminal")
		}
	}
}
