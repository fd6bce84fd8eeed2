// Command minimal is the smallest aws-lambda-go function: the floor of any Go
// cold start under the runtime emulator, so coldstart_ratio_minimal shows what
// the AWS SDK and the guard cost on top of the Lambda runtime itself.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (any, error) { return nil, nil })
}
