package emulator

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// TestStackWithLocalKMS runs kumo and local-kms together and checks, through
// the SDK's own environment variables, that KMS calls reach local-kms while
// SNS calls reach kumo.
func TestStackWithLocalKMS(t *testing.T) {
	const id = "bc436485-5092-42b8-92a3-0aa8b93536dc"
	s := NewStack(t, StackOptions{LocalKMS: &LocalKMSOptions{
		Seed: &LocalKMSSeed{Keys: []LocalKMSKey{{ID: id, Description: `quoted "desc": yes`, Aliases: []string{"alias/orders"}}}},
	}})
	cfg := envConfig(t, s.Env())
	kc := kms.NewFromConfig(cfg)
	ctx := t.Context()

	arn := "arn:aws:kms:us-east-1:111122223333:key/" + id
	for _, ref := range []string{id, arn, "alias/orders", "arn:aws:kms:us-east-1:111122223333:alias/orders"} {
		d, err := kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(ref)})
		if err != nil {
			t.Errorf("DescribeKey(%s): %v", ref, err)
			continue
		}
		if aws.ToString(d.KeyMetadata.Arn) != arn || aws.ToString(d.KeyMetadata.Description) != `quoted "desc": yes` ||
			d.KeyMetadata.KeyManager != kmstypes.KeyManagerTypeCustomer {
			t.Errorf("DescribeKey(%s) = %+v", ref, d.KeyMetadata)
		}
	}
	if _, err := kc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(id), PolicyName: aws.String("default"),
		Policy: aws.String(strings.ReplaceAll(servicePolicy, "000000000000", "111122223333"))}); err != nil {
		t.Fatal(err)
	}
	got, err := kc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(id), PolicyName: aws.String("default")})
	if err != nil || !strings.Contains(aws.ToString(got.Policy), "cloudwatch.amazonaws.com") {
		t.Errorf("GetKeyPolicy = %q, %v", aws.ToString(got.Policy), err)
	}
	// Recorded surprise: local-kms does not validate the policy text either.
	if _, err := kc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(id), PolicyName: aws.String("default"),
		Policy: aws.String("{not json")}); err != nil {
		t.Errorf("PutKeyPolicy(invalid JSON) err = %v; the package comment says local-kms accepts it", err)
	}
	// What it does check, unlike kumo: writes to a key pending deletion.
	ck, err := kc.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: ck.KeyMetadata.KeyId, PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	_, err = kc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: ck.KeyMetadata.KeyId, PolicyName: aws.String("default"), Policy: aws.String("{}")})
	var is *kmstypes.KMSInvalidStateException
	if !errors.As(err, &is) {
		t.Errorf("PutKeyPolicy(pending deletion) err = %v, want KMSInvalidStateException", err)
	}

	sc := sns.NewFromConfig(cfg)
	ct, err := sc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("orders"), Attributes: map[string]string{"KmsMasterKeyId": arn}})
	if err != nil || aws.ToString(ct.TopicArn) != "arn:aws:sns:us-east-1:000000000000:orders" {
		t.Errorf("CreateTopic via kumo = %v, %v", ct, err)
	}
	if !strings.Contains(s.KMS.Logs(), "Local KMS started") {
		t.Errorf("local-kms logs:\n%s", s.KMS.Logs())
	}

	pid := s.KMS.Pid()
	if err := s.KMS.Close(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("local-kms pid %d alive after Close", pid)
	}
}
