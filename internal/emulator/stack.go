package emulator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/snskeyguard/snskeyguard/internal/cfn"
	"github.com/snskeyguard/snskeyguard/internal/iamproxy"
)

// StackOptions chooses what StartStack runs.
type StackOptions struct {
	Kumo     KumoOptions
	LocalKMS *LocalKMSOptions // nil: KMS is served by kumo
	// Fixed, when set, serves kumo and the Config and Security Hub fakes on
	// these ports of Listen, for a local run that sam local invoke's
	// containers reach (events/env.json names the same ports).
	Fixed *FixedPorts
	// VirtualQuotas runs the IAM proxy's request-rate quotas on its virtual
	// clock (benchmarks: waits are charged to emulated time, never slept);
	// otherwise the quotas hold the functions in real time, as AWS does.
	VirtualQuotas bool
	// QuotaOverrides replaces the request rate of some metered operations
	// (iamproxy.QuotaTable): the benchmark's -quota flag.
	QuotaOverrides map[string]float64
}

// FixedPorts are the ports `make run SERVE=1` keeps open; events/env.json
// points the functions of sam local invoke at them through host.docker.internal.
type FixedPorts struct {
	Listen                    string // bind address, "0.0.0.0" so containers reach it
	Kumo, Config, SecurityHub int
}

// LocalRunPorts are the ports of `make run SERVE=1` (kumo on the port AWS
// tools commonly use for a local endpoint).
var LocalRunPorts = FixedPorts{Listen: "0.0.0.0", Kumo: 4566, Config: 4567, SecurityHub: 4568}

// Stack is every emulated AWS endpoint a function talks to.
type Stack struct {
	Kumo        *Kumo
	KMS         *LocalKMS // nil unless requested
	Config      *FakeConfig
	SecurityHub *FakeSecurityHub
	// Lambda serves Lambda's Invoke API for the functions deployed in it
	// (nil with Fixed ports: sam local invoke runs the functions there).
	Lambda *LambdaService
	// IAM enforces template.yaml's roles on the functions whose environment
	// FunctionEnv made; the harness's own calls (key "test") pass unchecked.
	IAM *iamproxy.Proxy
}

// StackName is the name the emulated stack has: the functions are
// "<StackName>-topic-guard" ..., the roles "<StackName>-TopicGuardRole" ...
const StackName = "snskeyguard"

// StartStack starts kumo, local-kms when asked, and the Config and Security
// Hub fakes. On error nothing is left running.
func StartStack(ctx context.Context, opts StackOptions) (*Stack, error) {
	s := &Stack{}
	var err error
	if opts.Fixed != nil {
		opts.Kumo.Listen, opts.Kumo.Port = opts.Fixed.Listen, opts.Fixed.Kumo
	}
	if s.Kumo, err = StartKumo(ctx, opts.Kumo); err != nil {
		return nil, err
	}
	if opts.LocalKMS != nil {
		if s.KMS, err = StartLocalKMS(ctx, *opts.LocalKMS); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	if f := opts.Fixed; f != nil {
		if s.Config, err = NewFakeConfigAt(net.JoinHostPort(f.Listen, strconv.Itoa(f.Config))); err == nil {
			s.SecurityHub, err = NewFakeSecurityHubAt(net.JoinHostPort(f.Listen, strconv.Itoa(f.SecurityHub)))
		}
		if err != nil {
			_ = s.Close()
			return nil, err
		}
		return s, nil
	}
	s.Config = NewFakeConfig()
	s.SecurityHub = NewFakeSecurityHub()
	s.Lambda = NewLambdaService(KumoAccount, KumoRegion)
	quotas := iamproxy.QuotaRealTime
	if opts.VirtualQuotas {
		quotas = iamproxy.QuotaVirtual
	}
	if s.IAM, err = s.startIAM(quotas, opts.QuotaOverrides); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// startIAM starts the IAM proxy in front of every emulator of the stack. The
// template's alert key and topic are the demo's (SeedDemo creates them under
// these names); every other resource has CloudFormation's default name.
func (s *Stack) startIAM(quotas iamproxy.QuotaMode, overrides map[string]float64) (*iamproxy.Proxy, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	tpl, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, fmt.Errorf("iam proxy: %w", err)
	}
	targets := map[string]string{"config": s.Config.URL, "securityhub": s.SecurityHub.URL, "lambda": s.Lambda.URL}
	if s.KMS != nil {
		targets["kms"] = s.KMS.URL
	}
	alertKey := DemoKeyARN(DemoAlertsKeyID)
	return iamproxy.New(iamproxy.Options{
		Targets: targets, Default: s.Kumo.URL, Template: tpl, Quotas: quotas, QuotaOverrides: overrides, AdminKeys: []string{DefaultFunctionEnv()["AWS_ACCESS_KEY_ID"]},
		Deployment: cfn.Deployment{AccountID: KumoAccount, Region: KumoRegion, StackName: StackName,
			Physical: map[string]cfn.Physical{
				"AlertKey":   {Ref: DemoAlertsKeyID, Attrs: map[string]string{"Arn": alertKey, "KeyId": DemoAlertsKeyID}},
				"AlertTopic": {Ref: DemoTopicARN(DemoAlertTopic), Attrs: map[string]string{"TopicName": DemoAlertTopic}},
			}},
	})
}

// FunctionEnv is env for the function deployed as "<StackName>-<name>" with
// every endpoint of this stack replaced by the IAM proxy and the function's
// own access key id, so each call it makes is checked against its role in
// template.yaml. params sets template parameters no variable shows
// (DeploymentMode, OrganizationId, OrganizationalUnitIds); the others are
// read back from env. An endpoint env points elsewhere (a test's fake) stays.
// AWS_LAMBDA_FUNCTION_NAME is the deployed name unless env sets it; deploy
// the started function in Lambda under that name (DeployFunction) for the
// invocations it starts itself.
func (s *Stack) FunctionEnv(name string, env, params map[string]string) (map[string]string, error) {
	key, err := s.IAM.Register(name, env, params)
	if err != nil {
		return nil, fmt.Errorf("iam proxy: %w", err)
	}
	out := maps.Clone(env)
	own := map[string]bool{}
	for _, u := range []string{s.Kumo.URL, s.Config.URL, s.SecurityHub.URL} {
		own[u] = true
	}
	if s.KMS != nil {
		own[s.KMS.URL] = true
	}
	if s.Lambda != nil {
		own[s.Lambda.URL] = true
	}
	for k, v := range out {
		if strings.HasPrefix(k, "AWS_ENDPOINT_URL") && own[v] {
			out[k] = s.IAM.URL
		}
	}
	out["AWS_ACCESS_KEY_ID"] = key
	out["AWS_SECRET_ACCESS_KEY"] = "iam-proxy-" + key
	if out["AWS_LAMBDA_FUNCTION_NAME"] == "" {
		// As Lambda sets it: the deployed name, which the role's own
		// lambda:InvokeFunction statement names.
		out["AWS_LAMBDA_FUNCTION_NAME"] = StackName + "-" + name
	}
	return out, nil
}

// DeployFunction makes fn the function "<StackName>-<name>" of the stack's
// Lambda service, the target of the Invoke calls functions make.
func (s *Stack) DeployFunction(name string, fn *Function) {
	if s.Lambda != nil {
		s.Lambda.Deploy(StackName+"-"+name, fn)
	}
}

// NewStack is StartStack for a test, stopped when the test ends.
func NewStack(t testing.TB, opts StackOptions) *Stack {
	t.Helper()
	RequireBinary(t, KumoBinary)
	if opts.LocalKMS != nil {
		RequireBinary(t, LocalKMSBinary)
	}
	return startedForTest(t, "emulators", func(ctx context.Context) (*Stack, error) { return StartStack(ctx, opts) })
}

// Close stops everything the stack started.
func (s *Stack) Close() error {
	var errs []error
	if s.IAM != nil {
		errs = append(errs, s.IAM.Close())
	}
	if s.Config != nil {
		s.Config.Close()
	}
	if s.SecurityHub != nil {
		s.SecurityHub.Close()
	}
	if s.Lambda != nil {
		s.Lambda.Close()
	}
	if s.KMS != nil {
		errs = append(errs, s.KMS.Close())
	}
	if s.Kumo != nil {
		errs = append(errs, s.Kumo.Close())
	}
	return errors.Join(errs...)
}

// Env is the environment that points a function (or an SDK client) at the
// stack: the SDK's own endpoint variables only, as docs/DESIGN.md requires, plus
// dummy credentials and the region. Layer product settings (MODE, ...) on top.
func (s *Stack) Env() map[string]string {
	env := DefaultFunctionEnv()
	if s.Kumo != nil {
		env["AWS_ENDPOINT_URL"] = s.Kumo.URL
	}
	if s.KMS != nil {
		env["AWS_ENDPOINT_URL_KMS"] = s.KMS.URL
	}
	if s.Config != nil {
		env["AWS_ENDPOINT_URL_CONFIG_SERVICE"] = s.Config.URL
	}
	if s.SecurityHub != nil {
		env["AWS_ENDPOINT_URL_SECURITYHUB"] = s.SecurityHub.URL
	}
	if s.Lambda != nil {
		env["AWS_ENDPOINT_URL_LAMBDA"] = s.Lambda.URL
	}
	return env
}

// With returns a copy of env with extra layered on top.
func With(env map[string]string, extra map[string]string) map[string]string {
	out := maps.Clone(env)
	maps.Copy(out, extra)
	return out
}
