package emulator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// LocalKMSOptions configures StartLocalKMS.
type LocalKMSOptions struct {
	AccountID string // KMS_ACCOUNT_ID, default 111122223333
	Region    string // KMS_REGION, default us-east-1
	// Seed is rendered to the YAML seed file; SeedYAML, when set, is used
	// verbatim instead (local-kms's own format, see its README).
	Seed     *LocalKMSSeed
	SeedYAML string
	Output   io.Writer
}

// LocalKMSSeed holds symmetric keys with fixed ids and their aliases.
// local-kms cannot seed key policies, key managers or states: seeded keys are
// enabled customer managed keys with the default policy.
type LocalKMSSeed struct {
	Keys []LocalKMSKey
}

// LocalKMSKey is one seeded AES key.
type LocalKMSKey struct {
	ID          string
	Description string
	Aliases     []string
}

// yaml renders the local-kms seed file; every value is quoted so that no id or description
// can change the YAML structure.
func (s *LocalKMSSeed) yaml() string {
	var b strings.Builder
	b.WriteString("Keys:\n  Symmetric:\n    Aes:\n")
	for _, k := range s.Keys {
		material := sha256.Sum256([]byte("snskeyguard-seed:" + k.ID))
		fmt.Fprintf(&b, "      - Metadata:\n          KeyId: %s\n", strconv.Quote(k.ID))
		if k.Description != "" {
			fmt.Fprintf(&b, "          Description: %s\n", strconv.Quote(k.Description))
		}
		fmt.Fprintf(&b, "        BackingKeys:\n          - %s\n", hex.EncodeToString(material[:]))
	}
	b.WriteString("Aliases:\n")
	for _, k := range s.Keys {
		for _, a := range k.Aliases {
			fmt.Fprintf(&b, "  - AliasName: %s\n    TargetKeyId: %s\n", strconv.Quote(a), strconv.Quote(k.ID))
		}
	}
	return b.String()
}

// LocalKMS is a running local-kms.
type LocalKMS struct {
	URL       string // AWS_ENDPOINT_URL_KMS
	AccountID string
	Region    string
	p         *process
}

var localKMSPort = regexp.MustCompile(`Local KMS started on [^\s:]*:(\d+)`)

// StartLocalKMS starts local-kms with a fresh data directory. It lets
// local-kms choose its port (PORT=0) and reads it from the start-up log line,
// which avoids the race of handing it a port; note that local-kms listens on
// all interfaces, not only loopback.
func StartLocalKMS(ctx context.Context, opts LocalKMSOptions) (*LocalKMS, error) {
	bin, err := LookBinary(LocalKMSBinary)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "local-kms-*")
	if err != nil {
		return nil, err
	}
	// A seed path that does not exist: without one local-kms reads
	// /init/seed.yaml, which would make runs depend on the machine.
	seedPath := filepath.Join(dir, "seed.yaml")
	seed := opts.SeedYAML
	if seed == "" && opts.Seed != nil {
		seed = opts.Seed.yaml()
	}
	if seed != "" {
		if err := os.WriteFile(seedPath, []byte(seed), 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	dataDir := filepath.Join(dir, "data")
	l := &LocalKMS{AccountID: or(opts.AccountID, "111122223333"), Region: or(opts.Region, "us-east-1")}
	env := append(baseEnv(), "PORT=0", "KMS_ACCOUNT_ID="+l.AccountID, "KMS_REGION="+l.Region,
		"KMS_DATA_PATH="+dataDir, "KMS_SEED_PATH="+seedPath)
	p, err := startProcess("local-kms", bin, nil, env, opts.Output)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.tempDirs = append(p.tempDirs, dir)
	l.p = p
	err = p.waitReady(ctx, func(ctx context.Context) error {
		m := localKMSPort.FindStringSubmatch(p.logs.String())
		if m == nil {
			return errors.New("no start-up line yet")
		}
		l.URL = "http://127.0.0.1:" + m[1]
		// Any HTTP answer (local-kms says 405 to GET) means it serves.
		return httpAnswers(l.URL + "/")(ctx)
	})
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	return l, nil
}

// Logs returns what local-kms has printed so far.
func (l *LocalKMS) Logs() string { return l.p.logs.String() }

// Close stops local-kms and removes its data.
func (l *LocalKMS) Close() error { return l.p.Close() }

// Pid is the process id, for tests that check nothing is left behind.
func (l *LocalKMS) Pid() int { return l.p.cmd.Process.Pid }

// NewLocalKMS starts local-kms for a test and stops it when the test ends.
func NewLocalKMS(t testing.TB, opts LocalKMSOptions) *LocalKMS {
	t.Helper()
	RequireBinary(t, LocalKMSBinary)
	return startedForTest(t, "local-kms", func(ctx context.Context) (*LocalKMS, error) { return StartLocalKMS(ctx, opts) })
}
