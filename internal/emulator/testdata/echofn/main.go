// Command echofn is a tiny Lambda function the emulator tests run under
// aws-lambda-rie: it echoes its payload, reports environment variables, or
// fails on request.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

type request struct {
	Fail string   `json:"fail"`
	Env  []string `json:"env"`
	Echo any      `json:"echo"`
}

func handle(_ context.Context, raw json.RawMessage) (map[string]any, error) {
	var r request
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	fmt.Println("echofn handling", string(raw))
	if r.Fail != "" {
		return nil, errors.New(r.Fail)
	}
	env := map[string]any{}
	for _, k := range r.Env {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		} else {
			env[k] = nil
		}
	}
	return map[string]any{"echo": r.Echo, "env": env}, nil
}

func main() { lambda.Start(handle) }
