package awsedge

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// lazyLambda is the Lambda client, built on first use.
type lazyLambda struct {
	once sync.Once
	fn   *lambda.Client
}

// InvokeAsync starts another invocation of the Lambda function functionName
// in the function's own account and Region with payload, asynchronously
// (InvocationType Event: Lambda queues the event and answers 202 at once):
// https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html
// A sweep hands the rest of its topics over this way. The client is built
// on first use, so functions that never continue pay nothing at init.
func (e *Edge) InvokeAsync(ctx context.Context, functionName string, payload []byte) error {
	if functionName == "" {
		return errors.New("invoke: no function name (AWS_LAMBDA_FUNCTION_NAME is set by Lambda)")
	}
	e.lambda.once.Do(func() { e.lambda.fn = lambda.NewFromConfig(e.cfg) })
	out, err := e.lambda.fn.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(functionName),
		InvocationType: lambdatypes.InvocationTypeEvent, Payload: payload})
	if err != nil {
		return fmt.Errorf("invoke %s: %w", functionName, err)
	}
	if out.StatusCode != 202 {
		return fmt.Errorf("invoke %s: status %d, want 202 (queued)", functionName, out.StatusCode)
	}
	return nil
}
