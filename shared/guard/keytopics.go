package guard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// Selector finds the topics of a key without listing every topic: AWS
// Config's advanced query over recorded AWS::SNS::Topic items
// (shared/awsedge.Account implements it). KeyAliases completes the ways a
// topic may name the key. An Account whose dynamic type also implements
// Selector lets key-guard skip the full listing.
type Selector interface {
	SelectTopicsByKey(ctx context.Context, keyARN string, refs []string) ([]string, error)
	KeyAliases(ctx context.Context, keyID string) ([]string, error)
}

// unavailable is how the edge marks "Config cannot answer": a fact about
// the account's setup, not a fault, so the guard lists topics instead.
type unavailable interface{ Unavailable() bool }

// selectTopicsByKey returns the ARNs of the topics whose KmsMasterKeyId names
// key in any of its spellings, from one Config query. ok is false when the
// caller must list topics instead: the key could not be read, or Config does
// not record topics (or may not be asked). err carries any other failure
// (a throttled or failing Config, an alias listing that failed); the caller
// may fail the invocation with it or list topics instead.
//
// Config lags behind changes by minutes, so the caller still re-reads each
// returned topic and keeps only those that name the key now. A topic moved
// onto the key in that window is missed here, but its own SetTopicAttributes
// event reaches topic-guard.
func selectTopicsByKey(ctx context.Context, sel Selector, key rules.Key) ([]string, bool, error) {
	if sel == nil || key.ARN == "" || key.ReadError != "" {
		return nil, false, nil
	}
	aliases := key.Aliases
	if aliases == nil {
		// nil means "not read": the guard reads aliases only when a policy
		// uses kms:ResourceAliases, and a topic may name the key by alias.
		var err error
		if aliases, err = sel.KeyAliases(ctx, key.ARN); err != nil {
			return nil, false, fmt.Errorf("list aliases (%s): %w", key.ARN, err)
		}
	}
	arns, err := sel.SelectTopicsByKey(ctx, key.ARN, keyRefs(key, aliases))
	if err != nil {
		var u unavailable
		if errors.As(err, &u) && u.Unavailable() {
			return nil, false, nil
		}
		return nil, false, err
	}
	seen := map[string]bool{}
	out := []string{}
	for _, a := range arns {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out, true, nil
}

// keyRefs lists every value SNS may hold in KmsMasterKeyId for key: its ARN,
// its id, and each alias by name and by ARN (SNS stores the value as given).
func keyRefs(key rules.Key, aliases []string) []string {
	refs := []string{key.ARN}
	id := key.ID
	if id == "" {
		if _, after, ok := strings.Cut(key.ARN, ":key/"); ok {
			id = after
		}
	}
	if id != "" {
		refs = append(refs, id)
	}
	// arn:<partition>:kms:<region>:<account>:key/<id> -> the alias ARN prefix.
	prefix := ""
	if i := strings.LastIndex(key.ARN, ":key/"); i > 0 {
		prefix = key.ARN[:i+1]
	}
	for _, a := range aliases {
		if !strings.HasPrefix(a, "alias/") {
			continue
		}
		refs = append(refs, a)
		if prefix != "" {
			refs = append(refs, prefix+a)
		}
	}
	if n := key.NamedAs; n != "" && !slices.Contains(refs, n) {
		refs = append(refs, n)
	}
	return refs
}
