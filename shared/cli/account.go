package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/snskeyguard/snskeyguard/shared/configrule"
	"github.com/snskeyguard/snskeyguard/shared/guard"
	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/rules"
	"github.com/snskeyguard/snskeyguard/shared/scan"
)

// ErrNotConfirmed refuses a write the user was not shown: in a scan without
// --apply every write, with --apply any fix other than those confirmed (for
// example one planned on a policy someone changed after it was shown). The
// guard reports such a fix as failed and writes nothing for it.
var ErrNotConfirmed = errors.New("not written: this change was not shown and confirmed (run the scan again)")

// account is the guard's view of AWS for one region, with the scan's
// progress and records, and its write gate.
type account struct {
	guard.Account
	progress  *regionProgress
	rec       *recorder
	confirmed *confirmed // nil: no write allowed
}

func (a *account) ListTopics(ctx context.Context) ([]string, error) {
	arns, err := a.Account.ListTopics(ctx)
	a.progress.setTopics(len(arns))
	return arns, err
}

func (a *account) GetTopic(ctx context.Context, arn string) (rules.Topic, error) {
	t, err := a.Account.GetTopic(ctx, arn)
	if err == nil {
		a.rec.topic(arn, t.KMSMasterKeyID)
	}
	a.progress.topicRead()
	return t, err
}

func (a *account) DescribeKey(ctx context.Context, id string) (rules.Key, error) {
	k, err := a.Account.DescribeKey(ctx, id)
	a.progress.keyRead()
	return k, err
}

func (a *account) PutKeyPolicy(ctx context.Context, keyID string, pol []byte) error {
	if err := a.confirmed.keyPolicy(keyID, pol); err != nil {
		return err
	}
	return a.Account.PutKeyPolicy(ctx, keyID, pol)
}

func (a *account) SetTopicKey(ctx context.Context, topicARN, keyID string) error {
	if err := a.confirmed.topicKey(topicARN, keyID); err != nil {
		return err
	}
	return a.Account.SetTopicKey(ctx, topicARN, keyID)
}

// The scan never alerts, reports to AWS Config or imports into Security Hub.
func (a *account) Publish(context.Context, string, string, string, map[string]string) error {
	return fmt.Errorf("publish: %w", ErrNotConfirmed)
}

func (a *account) PutEvaluations(context.Context, string, []configrule.Evaluation) error {
	return fmt.Errorf("put evaluations: %w", ErrNotConfirmed)
}

func (a *account) ImportFindings(context.Context, []guard.HubFinding) error {
	return fmt.Errorf("import findings: %w", ErrNotConfirmed)
}

// confirmed holds the fixes the user confirmed: each key's policy as shown
// (compared by meaning, DESIGN.md: never as text) and each topic's new key.
type confirmed struct {
	policies map[string][]byte
	topics   map[string]string
}

func newConfirmed(fixes []scan.Fix) *confirmed {
	c := &confirmed{policies: map[string][]byte{}, topics: map[string]string{}}
	for _, f := range fixes {
		switch f.Type {
		case report.ActionPutKeyPolicy:
			if len(f.After) > 0 {
				c.policies[f.KeyARN] = f.After
			}
		case report.ActionSetTopicKey:
			c.topics[f.TopicARN] = f.KeyARN
		}
	}
	return c
}

func (c *confirmed) keyPolicy(keyID string, pol []byte) error {
	if c == nil {
		return fmt.Errorf("put key policy (%s): %w", keyID, ErrNotConfirmed)
	}
	want, ok := c.policies[keyID]
	if !ok {
		return fmt.Errorf("put key policy (%s): %w", keyID, ErrNotConfirmed)
	}
	if same, err := policy.Equal(pol, want); err != nil || !same {
		return fmt.Errorf("put key policy (%s): the fix differs from the one shown: %w", keyID, ErrNotConfirmed)
	}
	return nil
}

func (c *confirmed) topicKey(topicARN, keyID string) error {
	if c == nil || c.topics[topicARN] == "" || c.topics[topicARN] != keyID {
		return fmt.Errorf("set topic key (%s): %w", topicARN, ErrNotConfirmed)
	}
	return nil
}

// recorder keeps each topic's key as first read (the guard re-reads a topic
// before and after moving it; the table shows the key it was found with).
type recorder struct {
	mu   sync.Mutex
	keys map[string]string
}

func newRecorder() *recorder { return &recorder{keys: map[string]string{}} }

func (r *recorder) topic(arn, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.keys[arn]; !ok {
		r.keys[arn] = key
	}
}

func (r *recorder) topicKeys() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.keys))
	for k, v := range r.keys {
		out[k] = v
	}
	return out
}
