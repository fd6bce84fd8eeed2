// Command baseline is the yardstick of topic-guard's cold start: a
// Lambda function that loads the SDK's default configuration and builds the
// same AWS clients the guard builds, without tracing, and does nothing per
// call. The ratio topic-guard / baseline is what tracing and the guard's own
// init add on top of what any Go function using these clients pays.
//
// It is the one place outside shared/awsedge that imports the AWS SDK, and
// only because it measures that cost; it never ships.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// clients keeps the clients reachable so the work of building them is not
// optimised away.
type clients struct {
	sns         *sns.Client
	kms         *kms.Client
	sts         *sts.Client
	cloudwatch  *cloudwatch.Client
	eventbridge *eventbridge.Client
	config      *configservice.Client
	securityhub *securityhub.Client
	sqs         *sqs.Client
}

func build(cfg aws.Config) *clients {
	return &clients{
		sns:         sns.NewFromConfig(cfg),
		kms:         kms.NewFromConfig(cfg),
		sts:         sts.NewFromConfig(cfg),
		cloudwatch:  cloudwatch.NewFromConfig(cfg),
		eventbridge: eventbridge.NewFromConfig(cfg),
		config:      configservice.NewFromConfig(cfg),
		securityhub: securityhub.NewFromConfig(cfg),
		sqs:         sqs.NewFromConfig(cfg),
	}
}

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "load AWS config:", err)
		os.Exit(1)
	}
	c := build(cfg)
	lambda.Start(func(context.Context, json.RawMessage) (any, error) {
		_ = c
		return nil, nil
	})
}
