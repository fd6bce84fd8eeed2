// Package emulator runs emulated AWS on loopback for the end-to-end tests and
// the local run (`make run`): kumo (SNS, KMS, STS, EventBridge, CloudWatch),
// local-kms where KMS fidelity matters, fakes for the AWS Config and Security
// Hub calls kumo lacks, and each function binary under aws-lambda-rie, the
// runtime emulator inside `sam local invoke`. No Docker, no AWS account.
//
// It is test support: it never ships in a Lambda bundle. The harness talks to
// the emulators over plain HTTP; only the demo seed (demo.go, shared by the
// end-to-end tests and `make run`) uses the AWS SDK, to create the demo
// account through the same APIs a user would.
//
// # Use in a test
//
//	s := emulator.NewStack(t, emulator.StackOptions{Kumo: emulator.KumoOptions{Seed: &emulator.KumoSeed{
//		Keys:   []emulator.SeedKey{{ID: keyID, Aliases: []string{"alias/orders"}}, emulator.AWSManagedSNSKey(awsKeyID)},
//		Topics: []emulator.SeedTopic{{Name: "orders", Attributes: map[string]string{"KmsMasterKeyId": "alias/orders"}}},
//	}}})
//	fn := emulator.NewFunction(t, "topic-guard", emulator.With(s.Env(), map[string]string{"MODE": "remediate"}))
//	out, err := fn.Invoke(t.Context(), payload) // *emulator.FunctionError when the function fails
//	evals := s.Config.Evaluations()             // what PutEvaluations stored
//
// The New* helpers skip the test with "run make tools" when a binary is
// missing, fail it instead when CI=true, and stop everything in t.Cleanup, so
// a failing test leaves no process behind either. A program (the local run)
// uses StartStack, BuildFunction and StartFunction and must Close what it
// starts; each child also gets SIGKILL from the kernel if the parent dies
// (Linux Pdeathsig). Binaries are looked up in .cache/bin at the repository
// root (`make tools`), then on PATH.
//
// Ports: kumo and aws-lambda-rie get free loopback ports chosen here (with a
// retry if another process takes one first); local-kms picks its own (PORT=0)
// and the port is read from its start-up line. Each emulator gets a fresh temp
// data directory, removed by Close. Every start here takes 0.05-0.6 s.
//
// Functions: BuildFunction builds ./functions/<name> once per process with
// CGO_ENABLED=0 -tags lambda.norpc for this machine into
// .cache/functions/<goos>_<goarch>/functions/<name>/bootstrap (a stable
// git-ignored place, written by rename so parallel test processes do not
// clash). StartFunction passes the function only the variables given, over
// dummy credentials and us-east-1 (DefaultFunctionEnv), plus PATH, HOME,
// TMPDIR and TZ: a developer's own AWS profile or keys never reach it.
// Stack.Env sets only the SDK's endpoint variables (AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL_CONFIG_SERVICE,
// AWS_ENDPOINT_URL_SECURITYHUB, AWS_ENDPOINT_URL_LAMBDA); it does not set
// AWS_XRAY_CONTEXT_MISSING, the functions must be quiet without it.
//
// Lambda: aws-lambda-rie answers only a synchronous invoke of its one
// function. LambdaService (lambda.go) serves Lambda's Invoke API for the
// functions deployed in it (Stack.DeployFunction), queues Event invocations
// and runs them under aws-lambda-rie one at a time, with Lambda's retries of
// a function error; the stack's IAM proxy authorizes lambda:InvokeFunction in
// front of it. A function's timeout under aws-lambda-rie is
// AWS_LAMBDA_FUNCTION_TIMEOUT (seconds; the emulator's README), which sets
// the deadline the function's context carries.
//
// # Surprises, beyond what the emulators document (each asserted by a test here)
//
//   - kumo silently starts empty when a seed file (kms.json, sns.json in
//     KUMO_DATA_DIR) does not parse; the probes therefore read seeded state back.
//     The files mirror kumo v0.33.1's storage structs (Go field names as keys:
//     KeyID, Arn, KeyManager, ..., TargetKeyID; topics need a non-nil
//     Subscriptions map).
//   - Seeded kumo keys and topics may carry ARNs of another account (for
//     example the samples' 111122223333) and are found by those ARNs, but
//     DescribeKey still reports AWSAccountId 000000000000.
//   - kumo has no alias/aws/sns key; AWSManagedSNSKey seeds one with AWS's
//     policy for it (KeyManager AWS).
//   - local-kms does not validate key policy text either: invalid JSON is
//     stored. It does reject writes to a key pending deletion
//     (KMSInvalidStateException), which kumo accepts. Its seed file cannot set
//     a key policy, key manager or state.
//   - local-kms listens on all interfaces, not only loopback, and ignores
//     KMS_SEED_PATH only if the file is missing: without a path it reads
//     /init/seed.yaml, so the harness always gives one.
//   - aws-lambda-rie starts the function lazily, on the first invoke (so the
//     INIT REPORT line, parsed by Function.InitDuration, appears only then),
//     puts it in its own process group (Close walks /proc to kill it), and
//     forwards its whole environment to the function.
//   - aws-sdk-go-v2 validates required ASFF fields before sending, so
//     FakeSecurityHub's per-finding validation is reachable only by raw HTTP.
//   - Security Hub and Config endpoint variables are AWS_ENDPOINT_URL_SECURITYHUB
//     and AWS_ENDPOINT_URL_CONFIG_SERVICE (service ids "SecurityHub" and
//     "Config Service", upper-cased, spaces to underscores).
package emulator
