package awsedge

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
)

// TestRecordedTopicsFakeConfig pages through the Config fake's recorded
// topics: one SelectResourceConfig and one BatchGetResourceConfig per page of
// 100; key and policy from the configuration item, tags from the query; a
// configuration without Policy leaves Policy nil (read from SNS); deleted
// topics are left out; a Config that does not exist is ErrSelectUnavailable.
func TestRecordedTopicsFakeConfig(t *testing.T) {
	fc := emulator.NewFakeConfigForTest(t)
	var topics []emulator.ConfigTopic
	for i := range 250 {
		arn := fmt.Sprintf("arn:aws:sns:us-east-1:111122223333:t%03d", i)
		topics = append(topics, emulator.ConfigTopic{ARN: arn, KmsMasterKeyID: "alias/k", Policy: `{"Statement":[]}`,
			Tags: map[string]string{"team": fmt.Sprint(i)}, NoPolicy: i == 7, Deleted: i == 8})
	}
	fc.SetTopics(topics...)
	hermetic(t)
	t.Setenv("AWS_ENDPOINT_URL_CONFIG_SERVICE", fc.URL)
	e, err := Load(context.Background(), Options{Region: "us-east-1", MaxAttempts: 1, AttemptTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := e.Account(context.Background(), "")
	seen := map[string]bool{}
	token, pages := "", 0
	for {
		got, next, err := a.RecordedTopics(context.Background(), token)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tp := range got {
			if seen[tp.ARN] {
				t.Errorf("%s twice", tp.ARN)
			}
			seen[tp.ARN] = true
			switch tp.ARN {
			case topics[7].ARN:
				if tp.Policy != nil || tp.KMSMasterKeyID != "" {
					t.Errorf("a configuration without Policy must leave the topic to SNS: %+v", tp)
				}
			default:
				if string(tp.Policy) != `{"Statement":[]}` || tp.KMSMasterKeyID != "alias/k" {
					t.Errorf("topic %+v", tp)
				}
			}
			if tp.Tags == nil || tp.Tags["team"] == "" {
				t.Errorf("tags of %s: %v", tp.ARN, tp.Tags)
			}
		}
		if next == "" {
			break
		}
		token = next
	}
	if pages != 3 || len(seen) != 249 || seen[topics[8].ARN] {
		t.Errorf("%d pages, %d topics (deleted seen: %v)", pages, len(seen), seen[topics[8].ARN])
	}
	if n := fc.BatchGetRequests(); n != 3 {
		t.Errorf("%d BatchGetResourceConfig calls, want one per page", n)
	}
	if c := e.Calls(); c["ConfigService.SelectResourceConfig"] != 3 || c["ConfigService.BatchGetResourceConfig"] != 3 {
		t.Errorf("calls %v", c)
	}

	k := emulator.NewKumo(t, emulator.KumoOptions{})
	t.Setenv("AWS_ENDPOINT_URL_CONFIG_SERVICE", k.URL)
	e, err = Load(context.Background(), Options{Region: "us-east-1", MaxAttempts: 1, AttemptTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a, _ = e.Account(context.Background(), "")
	if _, _, err := a.RecordedTopics(context.Background(), ""); !errors.Is(err, ErrSelectUnavailable) {
		t.Errorf("kumo: %v; want ErrSelectUnavailable", err)
	}
}
