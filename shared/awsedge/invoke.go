package awsedge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// InvokeAsync starts another invocation of the Lambda function functionName
// in the function's own account and Region with payload, asynchronously:
// Lambda's Invoke API, POST /2015-03-31/functions/{FunctionName}/invocations
// with X-Amz-Invocation-Type: Event, answered 202 once the event is queued
// (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html). A sweep
// hands the rest of its topics over this way.
//
// The request is signed here with the SDK's SigV4 signer rather than sent by
// the SDK's Lambda client, which would add 2.5 MB to every function binary
// for this one call. The endpoint follows the SDK's variables
// (AWS_ENDPOINT_URL_LAMBDA, then AWS_ENDPOINT_URL), else Lambda's regional
// endpoint (https://docs.aws.amazon.com/general/latest/gr/lambda-service.html).
// Throttling (429) and server errors are retried twice.
func (e *Edge) InvokeAsync(ctx context.Context, functionName string, payload []byte) error {
	if functionName == "" {
		return errors.New("invoke: no function name (AWS_LAMBDA_FUNCTION_NAME is set by Lambda)")
	}
	e.calls.Add("Lambda.Invoke")
	u := lambdaEndpoint(e.cfg.Region, e.cfg.BaseEndpoint) + "/2015-03-31/functions/" + url.PathEscape(functionName) + "/invocations"
	sum := sha256.Sum256(payload)
	hash := hex.EncodeToString(sum[:])
	var last error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * time.Second):
			}
		}
		e.attempts.Add("Lambda.Invoke")
		creds, err := e.cfg.Credentials.Retrieve(ctx)
		if err != nil {
			return fmt.Errorf("invoke %s: credentials: %w", functionName, err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
		if err != nil {
			return fmt.Errorf("invoke %s: %w", functionName, err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Amz-Invocation-Type", "Event")
		req.Header.Set("X-Amz-Content-Sha256", hash)
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hash, "lambda", e.cfg.Region, e.now()); err != nil {
			return fmt.Errorf("invoke %s: sign: %w", functionName, err)
		}
		resp, err := e.cfg.HTTPClient.Do(req)
		if err != nil {
			last = err
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusAccepted:
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			last = fmt.Errorf("status %d: %s", resp.StatusCode, body)
			continue
		}
		return fmt.Errorf("invoke %s: status %d (want 202, queued): %s", functionName, resp.StatusCode, body)
	}
	return fmt.Errorf("invoke %s: %w", functionName, last)
}

// lambdaEndpoint is the Lambda endpoint the SDK would use.
func lambdaEndpoint(region string, base *string) string {
	if v := os.Getenv("AWS_ENDPOINT_URL_LAMBDA"); v != "" {
		return strings.TrimSuffix(v, "/")
	}
	if base != nil && *base != "" {
		return strings.TrimSuffix(*base, "/")
	}
	if v := os.Getenv("AWS_ENDPOINT_URL"); v != "" {
		return strings.TrimSuffix(v, "/")
	}
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return "https://lambda." + region + "." + suffix
}
