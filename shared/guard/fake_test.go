package guard

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/smithy-go"

	"github.com/snskeyguard/snskeyguard/shared/configrule"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// fakeAccount is an in-memory AWS account: topics, keys with policies and
// aliases, recorded writes, and injectable errors per operation.
type fakeAccount struct {
	mu       sync.Mutex
	account  string
	region   string
	topics   map[string]*rules.Topic
	keys     map[string]*rules.Key // by key id
	aliases  map[string]string     // alias name -> key id
	alarms   map[string][]string
	rulesIdx map[string][]string

	errs map[string]error // operation -> error returned (once when onceErr)
	// failFirst makes the next n calls of an operation fail with errs[op]
	// (then errs[op] is dropped); operations not listed fail while errs[op] is set.
	failFirst map[string]int
	// beforePut runs just before PutKeyPolicy stores (to simulate races).
	beforeGet func(call int)
	// lostAnswer makes the next write of an operation land and then fail
	// with this error (an answer lost after the write: a timeout, a
	// dropped connection).
	lostAnswer map[string]error
	// beforeTopic runs before the n-th GetTopicAttributes answers.
	beforeTopic func(call int)

	calls       map[string]int
	puts        []string // key ids written
	published   []published
	queued      []queuedMsg
	evaluations [][]configrule.Evaluation
	hub         []HubFinding
}

type queuedMsg struct {
	queue, body string
	attrs       map[string]string
}

type published struct {
	topic, subject, body string
	attrs                map[string]string
}

func newFake() *fakeAccount {
	return &fakeAccount{account: "111122223333", region: "us-east-1",
		topics: map[string]*rules.Topic{}, keys: map[string]*rules.Key{}, aliases: map[string]string{},
		alarms: map[string][]string{}, rulesIdx: map[string][]string{}, errs: map[string]error{}, calls: map[string]int{}}
}

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: code} }

func classifyFake(err error) ErrClass {
	var ae smithy.APIError
	if e, ok := err.(smithy.APIError); ok {
		ae = e
	}
	if ae == nil {
		return ErrOther
	}
	switch ae.ErrorCode() {
	case "ThrottlingException", "Throttled", "KMSThrottlingException", "InternalFailure":
		return ErrRetryable
	case "NotFoundException", "NotFound":
		return ErrNotFound
	case "AccessDeniedException", "AuthorizationError":
		return ErrAccessDenied
	case "KMSOptInRequired":
		return ErrOptIn
	}
	return ErrOther
}

func (f *fakeAccount) topicARN(name string) string {
	return fmt.Sprintf("arn:aws:sns:%s:%s:%s", f.region, f.account, name)
}

func (f *fakeAccount) addKey(id, policy string, aliases ...string) *rules.Key {
	k := &rules.Key{ARN: fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", f.region, f.account, id), ID: id, Manager: "CUSTOMER",
		Spec: "SYMMETRIC_DEFAULT", Usage: "ENCRYPT_DECRYPT", State: "Enabled", Policy: []byte(policy)}
	f.keys[id] = k
	for _, a := range aliases {
		f.aliases[a] = id
	}
	return k
}

func (f *fakeAccount) addTopic(name, keyRef, policy string) string {
	arn := f.topicARN(name)
	f.topics[arn] = &rules.Topic{ARN: arn, KMSMasterKeyID: keyRef, Policy: []byte(policy)}
	return arn
}

func (f *fakeAccount) call(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	err, ok := f.errs[op]
	if !ok {
		return nil
	}
	if n, counted := f.failFirst[op]; counted {
		if n <= 1 {
			delete(f.errs, op)
			delete(f.failFirst, op)
		} else {
			f.failFirst[op] = n - 1
		}
	}
	return err
}

func (f *fakeAccount) resolve(ref string) (*rules.Key, bool) {
	ref = strings.TrimSpace(ref)
	if i := strings.Index(ref, ":alias/"); i >= 0 {
		ref = ref[i+1:]
	}
	if id, ok := f.aliases[ref]; ok {
		ref = id
	}
	if i := strings.LastIndex(ref, ":key/"); i >= 0 {
		ref = ref[i+5:]
	}
	k, ok := f.keys[ref]
	return k, ok
}

func (f *fakeAccount) GetTopic(_ context.Context, arn string) (rules.Topic, error) {
	if f.beforeTopic != nil {
		f.beforeTopic(f.calls["GetTopicAttributes"] + 1)
	}
	if err := f.call("GetTopicAttributes"); err != nil {
		return rules.Topic{}, err
	}
	t, ok := f.topics[arn]
	if !ok {
		return rules.Topic{}, apiErr("NotFound")
	}
	return *t, nil
}

func (f *fakeAccount) TopicTags(_ context.Context, arn string) (map[string]string, error) {
	if err := f.call("ListTagsForResource"); err != nil {
		return nil, err
	}
	return f.topics[arn].Tags, nil
}

func (f *fakeAccount) ListTopics(context.Context) ([]string, error) {
	if err := f.call("ListTopics"); err != nil {
		return nil, err
	}
	var out []string
	for arn := range f.topics {
		out = append(out, arn)
	}
	sort.Strings(out)
	return out, nil
}

func (f *fakeAccount) SetTopicKey(_ context.Context, arn, keyID string) error {
	if err := f.call("SetTopicAttributes"); err != nil {
		return err
	}
	f.topics[arn].KMSMasterKeyID = keyID
	return f.lost("SetTopicAttributes")
}

func (f *fakeAccount) DescribeKey(_ context.Context, ref string) (rules.Key, error) {
	if err := f.call("DescribeKey"); err != nil {
		return rules.Key{}, err
	}
	k, ok := f.resolve(ref)
	if !ok {
		return rules.Key{}, apiErr("NotFoundException")
	}
	c := *k
	c.Policy, c.Aliases, c.Tags = nil, nil, nil
	return c, nil
}

func (f *fakeAccount) KeyPolicy(_ context.Context, ref string) ([]byte, error) {
	f.mu.Lock()
	n := f.calls["GetKeyPolicy"] + 1
	hook := f.beforeGet
	f.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	if err := f.call("GetKeyPolicy"); err != nil {
		return nil, err
	}
	k, ok := f.resolve(ref)
	if !ok {
		return nil, apiErr("NotFoundException")
	}
	return append([]byte(nil), k.Policy...), nil
}

func (f *fakeAccount) PutKeyPolicy(_ context.Context, ref string, policy []byte) error {
	if err := f.call("PutKeyPolicy"); err != nil {
		return err
	}
	k, ok := f.resolve(ref)
	if !ok {
		return apiErr("NotFoundException")
	}
	k.Policy = append([]byte(nil), policy...)
	f.puts = append(f.puts, k.ID)
	return f.lost("PutKeyPolicy")
}

func (f *fakeAccount) lost(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.lostAnswer[op]
	delete(f.lostAnswer, op)
	return err
}

func (f *fakeAccount) KeyAliases(_ context.Context, ref string) ([]string, error) {
	if err := f.call("ListAliases"); err != nil {
		return nil, err
	}
	k, _ := f.resolve(ref)
	var out []string
	for a, id := range f.aliases {
		if k != nil && id == k.ID {
			out = append(out, a)
		}
	}
	return out, nil
}

func (f *fakeAccount) KeyTags(_ context.Context, ref string) (map[string]string, error) {
	if err := f.call("ListResourceTags"); err != nil {
		return nil, err
	}
	k, _ := f.resolve(ref)
	if k == nil {
		return nil, nil
	}
	return k.Tags, nil
}

func (f *fakeAccount) AlarmTopics(context.Context) (map[string][]string, error) {
	return f.alarms, f.call("DescribeAlarms")
}

func (f *fakeAccount) RuleTopics(context.Context) (map[string][]string, error) {
	return f.rulesIdx, f.call("ListRules")
}

func (f *fakeAccount) Publish(_ context.Context, topic, subject, body string, attrs map[string]string) error {
	if err := f.call("Publish"); err != nil {
		return err
	}
	f.published = append(f.published, published{topic, subject, body, attrs})
	return nil
}

func (f *fakeAccount) Enqueue(_ context.Context, queue, body string, attrs map[string]string) error {
	if err := f.call("SendMessage"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queued = append(f.queued, queuedMsg{queue, body, attrs})
	return nil
}

func (f *fakeAccount) PutEvaluations(_ context.Context, _ string, evals []configrule.Evaluation) error {
	if err := f.call("PutEvaluations"); err != nil {
		return err
	}
	f.evaluations = append(f.evaluations, evals)
	return nil
}

func (f *fakeAccount) ImportFindings(_ context.Context, fs []HubFinding) error {
	if err := f.call("BatchImportFindings"); err != nil {
		return err
	}
	f.hub = append(f.hub, fs...)
	return nil
}
