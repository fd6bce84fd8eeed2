package emulator

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// KumoAccount and KumoRegion are what kumo puts in every ARN it mints.
const (
	KumoAccount = "000000000000"
	KumoRegion  = "us-east-1"
)

// KumoOptions configures StartKumo.
type KumoOptions struct {
	// Seed is written into the data directory before kumo starts.
	Seed *KumoSeed
	// LogLevel is KUMO_LOG_LEVEL; "warn" keeps the captured logs short.
	LogLevel string
	// Output, when set, also receives kumo's stdout and stderr.
	Output io.Writer
	// Listen is the address kumo binds ("" = 127.0.0.1) and Port its port
	// (0 = a free one). A fixed port is for a long-lived local run that
	// other processes (sam local invoke's containers) connect to; URL still
	// names 127.0.0.1.
	Listen string
	Port   int
}

// KumoSeed is state kumo loads at start from its data directory (kms.json,
// sns.json). It is the only way to get fixed key ids, an AWS-managed key
// behind alias/aws/sns, or tag values kumo's form parser would mangle.
type KumoSeed struct {
	Keys   []SeedKey
	Topics []SeedTopic
}

// SeedKey is one KMS key. Empty fields take AWS's defaults for a new
// symmetric customer managed key.
type SeedKey struct {
	ID          string // required: the fixed key id
	ARN         string // default arn:aws:kms:us-east-1:000000000000:key/<ID>
	Description string
	Manager     string // CUSTOMER (default) or AWS
	Spec        string // SYMMETRIC_DEFAULT (default)
	Usage       string // ENCRYPT_DECRYPT (default)
	State       string // Enabled (default), Disabled, PendingDeletion, ...
	Policy      string // default: kumo's default key policy (root account)
	Aliases     []string
	Tags        map[string]string
}

// SeedTopic is one SNS topic.
type SeedTopic struct {
	Name       string // required
	ARN        string // default arn:aws:sns:us-east-1:000000000000:<Name>
	Attributes map[string]string
	Tags       map[string]string
}

// AWSManagedSNSKey is the key AWS creates behind alias/aws/sns, with the key
// policy AWS gives it (any principal of the account, through SNS only).
func AWSManagedSNSKey(id string) SeedKey {
	return SeedKey{
		ID:          id,
		Description: "Default master key that protects my SNS topics when no other key is defined",
		Manager:     "AWS",
		Aliases:     []string{"alias/aws/sns"},
		Policy: `{"Version":"2012-10-17","Id":"auto-sns-1","Statement":[` +
			`{"Sid":"Allow access through SNS for all principals in the account that are authorized to use SNS","Effect":"Allow","Principal":{"AWS":"*"},` +
			`"Action":["kms:Decrypt","kms:GenerateDataKey*","kms:CreateGrant","kms:ListGrants","kms:DescribeKey"],"Resource":"*",` +
			`"Condition":{"StringEquals":{"kms:CallerAccount":"` + KumoAccount + `","kms:ViaService":"sns.` + KumoRegion + `.amazonaws.com"}}},` +
			`{"Sid":"Allow direct access to key metadata to the account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + KumoAccount + `:root"},` +
			`"Action":["kms:Describe*","kms:Get*","kms:List*","kms:RevokeGrant"],"Resource":"*"}]}`,
	}
}

// The on-disk shapes below mirror kumo v0.33.1's internal/service/kms and
// internal/service/sns storage structs (exported fields without JSON tags, so
// Go field names are the keys). kumo ignores a snapshot it cannot parse, so
// the probes assert that a seeded key and topic really appear.
type kumoKey struct {
	KeyID                 string
	Arn                   string
	Description           string
	KeyState              string
	KeyUsage              string
	KeySpec               string
	KeyManager            string
	CreationDate          time.Time
	Enabled               bool
	DeletionDate          *time.Time
	Origin                string
	PendingDeletionWindow int32
	Tags                  map[string]string
	Policy                string
	KeyMaterial           []byte
}

type kumoAlias struct {
	AliasName       string
	AliasArn        string
	TargetKeyID     string
	CreationDate    time.Time
	LastUpdatedDate time.Time
}

type kumoTopic struct {
	ARN           string
	Name          string
	DisplayName   string
	CreatedTime   time.Time
	Attributes    map[string]string
	Subscriptions map[string]any
}

type kumoTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// kumoDefaultKeyPolicy is what kumo answers for a key created without one.
const kumoDefaultKeyPolicy = `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"}]}`

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// writeKumoSeed writes kms.json and sns.json into dir.
func writeKumoSeed(dir string, seed *KumoSeed) error {
	now := time.Now().UTC().Truncate(time.Second)
	keys := map[string]kumoKey{}
	aliases := map[string]kumoAlias{}
	for _, k := range seed.Keys {
		if k.ID == "" {
			return fmt.Errorf("seed key without ID")
		}
		arn := or(k.ARN, "arn:aws:kms:"+KumoRegion+":"+KumoAccount+":key/"+k.ID)
		state := or(k.State, "Enabled")
		// Deterministic key material keeps ciphertexts stable between runs.
		material := sha256.Sum256([]byte("snskeyguard-seed:" + k.ID))
		kk := kumoKey{
			KeyID: k.ID, Arn: arn, Description: k.Description,
			KeyState: state, KeyUsage: or(k.Usage, "ENCRYPT_DECRYPT"), KeySpec: or(k.Spec, "SYMMETRIC_DEFAULT"),
			KeyManager: or(k.Manager, "CUSTOMER"), CreationDate: now, Enabled: state == "Enabled",
			Origin: "AWS_KMS", Tags: k.Tags, Policy: or(k.Policy, kumoDefaultKeyPolicy), KeyMaterial: material[:],
		}
		if kk.Tags == nil {
			kk.Tags = map[string]string{}
		}
		if state == "PendingDeletion" {
			d := now.Add(7 * 24 * time.Hour)
			kk.DeletionDate, kk.PendingDeletionWindow = &d, 7
		}
		if _, dup := keys[k.ID]; dup {
			return fmt.Errorf("seed key %s twice", k.ID)
		}
		keys[k.ID] = kk
		for _, a := range k.Aliases {
			if _, dup := aliases[a]; dup {
				return fmt.Errorf("seed alias %s twice", a)
			}
			aliases[a] = kumoAlias{AliasName: a, AliasArn: "arn:aws:kms:" + KumoRegion + ":" + KumoAccount + ":" + a,
				TargetKeyID: k.ID, CreationDate: now, LastUpdatedDate: now}
		}
	}
	topics := map[string]kumoTopic{}
	tags := map[string][]kumoTag{}
	for _, t := range seed.Topics {
		if t.Name == "" {
			return fmt.Errorf("seed topic without Name")
		}
		arn := or(t.ARN, "arn:aws:sns:"+KumoRegion+":"+KumoAccount+":"+t.Name)
		attrs := map[string]string{}
		for k, v := range t.Attributes {
			attrs[k] = v
		}
		topics[arn] = kumoTopic{ARN: arn, Name: t.Name, DisplayName: attrs["DisplayName"], CreatedTime: now,
			Attributes: attrs, Subscriptions: map[string]any{}}
		for k, v := range t.Tags {
			tags[arn] = append(tags[arn], kumoTag{Key: k, Value: v})
		}
	}
	files := map[string]any{
		"kms.json": map[string]any{"keys": keys, "aliases": aliases},
		"sns.json": map[string]any{"topics": topics, "subscriptions": map[string]any{}, "tags": tags},
	}
	for name, v := range files {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Kumo is a running kumo emulator.
type Kumo struct {
	// URL is the endpoint for every service kumo emulates (AWS_ENDPOINT_URL).
	URL string
	// DataDir is the data directory kumo persists into.
	DataDir string
	p       *process
}

// StartKumo starts kumo on a free loopback port with a fresh data directory
// and waits until /health answers.
func StartKumo(ctx context.Context, opts KumoOptions) (*Kumo, error) {
	bin, err := LookBinary(KumoBinary)
	if err != nil {
		return nil, err
	}
	var k *Kumo
	start := func() (*process, error) {
		dir, err := os.MkdirTemp("", "kumo-*")
		if err != nil {
			return nil, err
		}
		if opts.Seed != nil {
			if err := writeKumoSeed(dir, opts.Seed); err != nil {
				os.RemoveAll(dir)
				return nil, fmt.Errorf("seed kumo: %w", err)
			}
		}
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				os.RemoveAll(dir)
				return nil, err
			}
		}
		env := append(baseEnv(), "KUMO_HOST="+or(opts.Listen, "127.0.0.1"), "KUMO_PORT="+strconv.Itoa(port),
			"KUMO_LOG_LEVEL="+or(opts.LogLevel, "warn"), "KUMO_DATA_DIR="+dir)
		p, err := startProcess("kumo", bin, nil, env, opts.Output)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		p.tempDirs = append(p.tempDirs, dir)
		k = &Kumo{URL: "http://127.0.0.1:" + strconv.Itoa(port), DataDir: dir, p: p}
		return p, nil
	}
	ready := func(p *process) error { return p.waitReady(ctx, httpAnswers(k.URL+"/health")) }
	if _, err := startWithRetry(ctx, 3, start, ready); err != nil {
		return nil, err
	}
	return k, nil
}

// Close stops kumo and removes its data directory.
func (k *Kumo) Close() error { return k.p.Close() }

// Pid is the process id, for tests that check nothing is left behind.
func (k *Kumo) Pid() int { return k.p.cmd.Process.Pid }

// NewKumo starts kumo for a test and stops it when the test ends; it skips
// (or fails in CI) when the binary is missing.
func NewKumo(t testing.TB, opts KumoOptions) *Kumo {
	t.Helper()
	RequireBinary(t, KumoBinary)
	return startedForTest(t, "kumo", func(ctx context.Context) (*Kumo, error) { return StartKumo(ctx, opts) })
}

// startedForTest starts what (named in the failures) with the test's context,
// fails the test when it cannot, and stops it when the test ends.
func startedForTest[T interface{ Close() error }](t testing.TB, what string, start func(context.Context) (T, error)) T {
	t.Helper()
	v, err := start(t.Context())
	if err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	t.Cleanup(func() {
		if err := v.Close(); err != nil {
			t.Errorf("stop %s: %v", what, err)
		}
	})
	return v
}
