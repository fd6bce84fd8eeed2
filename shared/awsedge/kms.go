package awsedge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// MaxKeyPolicyBytes is KMS's key policy size limit.
const MaxKeyPolicyBytes = 32768

const policyName = "default" // the only key policy name KMS has

// ErrPolicyRejected is returned by PutKeyPolicy, without any AWS call, for a
// policy that is not JSON or is over MaxKeyPolicyBytes: emulators accept
// both, and the guard must never write either (docs/DESIGN.md, "What a fix may do", invariant 4).
var ErrPolicyRejected = errors.New("key policy rejected before writing")

// DescribeKey resolves a key however a topic names it (key id, key ARN,
// alias name, alias ARN) and returns its metadata; Aliases, Policy and Tags
// are left to KeyAliases, KeyPolicy and KeyTags. NamedAs is keyID.
//
// An alias ARN that DescribeKey refuses (kumo cannot resolve alias ARNs) is
// retried by alias name, but only when the ARN's account and region are this
// client's: elsewhere the name would resolve to another account's key.
func (a *Account) DescribeKey(ctx context.Context, keyID string) (rules.Key, error) {
	out, err := a.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		if name, region, acct, ok := parseAliasARN(keyID); ok && region == a.region &&
			(Classify(err) == NotFound || Classify(err) == Invalid) {
			if own, idErr := a.accountID(ctx); idErr == nil && own == acct {
				if out2, err2 := a.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(name)}); err2 == nil {
					out, err = out2, nil
				}
			}
		}
		if err != nil {
			return rules.Key{}, fmt.Errorf("describe key (%s): %w", keyID, err)
		}
	}
	return keyFromMetadata(out.KeyMetadata, keyID), nil
}

func keyFromMetadata(md *kmstypes.KeyMetadata, namedAs string) rules.Key {
	if md == nil {
		return rules.Key{NamedAs: namedAs}
	}
	spec := string(md.KeySpec)
	if spec == "" {
		//lint:ignore SA1019 older answers carry only this field
		spec = string(md.CustomerMasterKeySpec)
	}
	return rules.Key{
		ARN:     aws.ToString(md.Arn),
		ID:      aws.ToString(md.KeyId),
		Manager: string(md.KeyManager),
		Spec:    spec,
		Usage:   string(md.KeyUsage),
		Origin:  string(md.Origin),
		State:   string(md.KeyState),
		NamedAs: namedAs,
	}
}

// parseAliasARN splits arn:<p>:kms:<region>:<account>:alias/<name>.
func parseAliasARN(s string) (aliasName, region, account string, ok bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kms" || !strings.HasPrefix(parts[5], "alias/") {
		return "", "", "", false
	}
	return parts[5], parts[3], parts[4], true
}

// KeyPolicy returns the key's policy exactly as KMS stores it.
func (a *Account) KeyPolicy(ctx context.Context, keyID string) ([]byte, error) {
	out, err := a.kms.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String(policyName)})
	if err != nil {
		return nil, fmt.Errorf("get key policy (%s): %w", keyID, err)
	}
	return []byte(aws.ToString(out.Policy)), nil
}

// PutKeyPolicy replaces the key policy. It never sets
// BypassPolicyLockoutSafetyCheck, so KMS itself refuses a policy that would
// lock the account out, and it refuses to send invalid or oversized JSON.
func (a *Account) PutKeyPolicy(ctx context.Context, keyID string, policy []byte) error {
	if len(policy) > MaxKeyPolicyBytes {
		return fmt.Errorf("put key policy (%s): %w: %d bytes > %d", keyID, ErrPolicyRejected, len(policy), MaxKeyPolicyBytes)
	}
	if !json.Valid(policy) {
		return fmt.Errorf("put key policy (%s): %w: not valid JSON", keyID, ErrPolicyRejected)
	}
	_, err := a.kms.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{
		KeyId:                          aws.String(keyID),
		PolicyName:                     aws.String(policyName),
		Policy:                         aws.String(string(policy)),
		BypassPolicyLockoutSafetyCheck: false,
	})
	if err != nil {
		return fmt.Errorf("put key policy (%s): %w", keyID, err)
	}
	return nil
}

// KeyAliases returns the alias names ("alias/orders") of a key, all pages.
func (a *Account) KeyAliases(ctx context.Context, keyID string) ([]string, error) {
	var names []string
	p := kms.NewListAliasesPaginator(a.kms, &kms.ListAliasesInput{KeyId: aws.String(keyID)}, func(o *kms.ListAliasesPaginatorOptions) {
		o.StopOnDuplicateToken = true
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list aliases (%s): %w", keyID, err)
		}
		for _, al := range page.Aliases {
			names = append(names, aws.ToString(al.AliasName))
		}
	}
	return names, nil
}

// KeyTags returns a key's tags, all pages.
func (a *Account) KeyTags(ctx context.Context, keyID string) (map[string]string, error) {
	tags := map[string]string{}
	p := kms.NewListResourceTagsPaginator(a.kms, &kms.ListResourceTagsInput{KeyId: aws.String(keyID)}, func(o *kms.ListResourceTagsPaginatorOptions) {
		o.StopOnDuplicateToken = true
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list key tags (%s): %w", keyID, err)
		}
		for _, t := range page.Tags {
			tags[aws.ToString(t.TagKey)] = aws.ToString(t.TagValue)
		}
	}
	return tags, nil
}
