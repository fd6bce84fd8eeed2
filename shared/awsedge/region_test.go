package awsedge

import (
	"context"
	"testing"
)

func TestAccountInOtherRegion(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	e, err := Load(context.Background(), Options{Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	own, err := e.AccountIn(context.Background(), "", "us-east-1")
	if err != nil || own != e.self {
		t.Fatalf("own region: %v %v", own, err)
	}
	eu, err := e.AccountIn(context.Background(), "", "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if eu == e.self || eu.region != "eu-west-1" || eu.sns.Options().Region != "eu-west-1" || eu.kms.Options().Region != "eu-west-1" {
		t.Fatalf("eu account: region %q sns %q", eu.region, eu.sns.Options().Region)
	}
	again, _ := e.AccountIn(context.Background(), "", "eu-west-1")
	if again != eu {
		t.Fatal("regional clients must be cached")
	}
	if e.self.sns.Options().Region != "us-east-1" {
		t.Fatal("the own clients' region changed")
	}
}
