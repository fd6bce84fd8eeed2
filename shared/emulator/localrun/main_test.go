package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/shared/emulator"
)

// testBuild uses emulator.BuildFunction (build to a private name, then
// rename): other test processes may run the same binaries meanwhile.
func testBuild(string) (map[string]string, error) {
	return buildEach(emulator.BuildFunction)
}

// TestRunRemediate is `make run MODE=remediate`: exit 0, a row per
// evaluation, and the two key policies the demo fixes shown as diffs.
func TestRunRemediate(t *testing.T) {
	emulator.RequireBinary(t, emulator.KumoBinary)
	emulator.RequireBinary(t, emulator.RIEBinary)
	var out, errOut bytes.Buffer
	if code := run(t.Context(), "remediate", &out, &errOut, testBuild); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	s := out.String()
	for _, want := range []string{
		"MODE=remediate, 22 sample events",
		// The first event fixes alarms; later events about alarms find it fixed.
		"config-rule-change-alarms.json                               alarms              COMPLIANT       GRANT_MISSING(cloudwatch) GRANT_MISSING(events)  PutKeyPolicy applied alias/alarms-key, Alert applied\n",
		"key-guard-PutKeyPolicy-alarms-default.json                   alarms              COMPLIANT       -                                                -\n",
		"topic-guard-Subscribe-unrelated.json                         -                   -               -                                                skipped: event Subscribe from aws.sns is not handled\n",
		"Topics re-pointed (KmsMasterKeyId): audit: \"\" -> \"arn:aws:kms:us-east-1:000000000000:key/11111111-2222-4333-8444-000000000001\"; " +
			"legacy: \"alias/aws/sns\" -> \"arn:aws:kms:us-east-1:000000000000:key/11111111-2222-4333-8444-000000000001\"\n",
		"Key-policy changes: 2\n",
		"--- alias/alarms-key (before config-rule-change-alarms.json)\n+++ alias/alarms-key (after)\n",
		"+      \"Sid\": \"AllowSNSPublishersCloudwatch\",\n",
		"--- alias/events-key (before config-rule-oversized-events-bus.json)\n+++ alias/events-key (after)\n",
		"-      \"Resource\": \"*\",\n-      \"Condition\": {\n",
		// Every call went through the IAM proxy, and the roles allowed it.
		" iam_denied=0\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q\n%s", want, s)
		}
	}
	if m := regexp.MustCompile(`iam_calls_checked=(\d+) `).FindStringSubmatch(s); m == nil || m[1] == "0" {
		t.Errorf("no IAM-checked calls reported: %v", m)
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr: %s", errOut.String())
	}
}

func TestRunRejectsUnknownMode(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), "fix", &out, &errOut, testBuild); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if got, want := errOut.String(), "make run: MODE=\"fix\": want alert or remediate\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}
