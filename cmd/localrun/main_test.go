package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
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
		// The scan at the end reads the account the events left: all fixed.
		"The demo account now, as snskeyguard scan sees it (scan --quiet --required-principals cloudwatch.amazonaws.com,events.amazonaws.com",
		"snskeyguard scan: account 000000000000, 1 region us-east-1, mode alert (read only)\n",
		"audit               key/11111111-2222-4333-8444-000000000001  COMPLIANT   -         -\n",
		"6 topics: 6 COMPLIANT, 0 NON_COMPLIANT, 0 NOT_APPLICABLE\n",
		"Fixes: none\n",
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

// TestEnvJSONPointsAtTheServedEmulators: `sam local invoke --env-vars
// events/env.json` (samconfig.toml) reaches the emulators of `make run
// SERVE=1` from its container, and nothing else: every function's
// AWS_ENDPOINT_URL is kumo's fixed port through host.docker.internal, so a
// local invoke never falls through to a real AWS endpoint.
func TestEnvJSONPointsAtTheServedEmulators(t *testing.T) {
	root, err := emulator.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	settings, err := envJSON(filepath.Join(root, "events", "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("http://host.docker.internal:%d", emulator.LocalRunPorts.Kumo)
	for _, ep := range entryPoints {
		env, ok := settings[ep.logicalID]
		if !ok {
			t.Errorf("events/env.json has no %s section", ep.logicalID)
			continue
		}
		if got := env["AWS_ENDPOINT_URL"]; got != want {
			t.Errorf("%s AWS_ENDPOINT_URL = %q, want %q", ep.logicalID, got, want)
		}
		if got, want := env["ALERT_TOPIC_ARN"], emulator.DemoTopicARN(emulator.DemoAlertTopic); got != want {
			t.Errorf("%s ALERT_TOPIC_ARN = %q, want the demo's %q", ep.logicalID, got, want)
		}
	}
}

// TestServedStackListensOnFixedPorts starts the stack as SERVE=1 does, on
// other fixed ports (a developer's make run may hold the real ones), and
// reaches kumo and both fakes on them.
func TestServedStackListensOnFixedPorts(t *testing.T) {
	emulator.RequireBinary(t, emulator.KumoBinary)
	var ports []int
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	fixed := emulator.FixedPorts{Listen: "127.0.0.1", Kumo: ports[0], Config: ports[1], SecurityHub: ports[2]}
	stack, err := emulator.StartStack(t.Context(), emulator.StackOptions{Fixed: &fixed})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	for name, url := range map[string]string{"kumo": stack.Kumo.URL + "/health", "config": stack.Config.URL, "securityhub": stack.SecurityHub.URL} {
		want := fmt.Sprintf(":%d", map[string]int{"kumo": ports[0], "config": ports[1], "securityhub": ports[2]}[name])
		if !strings.Contains(url, want) {
			t.Errorf("%s URL %s, want port %s", name, url, want)
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		resp.Body.Close()
	}
}
