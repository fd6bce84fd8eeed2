package emulator

import (
	"context"
	"errors"
	"maps"
	"testing"
)

// StackOptions chooses what StartStack runs.
type StackOptions struct {
	Kumo     KumoOptions
	LocalKMS *LocalKMSOptions // nil: KMS is served by kumo
}

// Stack is every emulated AWS endpoint a function talks to.
type Stack struct {
	Kumo        *Kumo
	KMS         *LocalKMS // nil unless requested
	Config      *FakeConfig
	SecurityHub *FakeSecurityHub
}

// StartStack starts kumo, local-kms when asked, and the Config and Security
// Hub fakes. On error nothing is left running.
func StartStack(ctx context.Context, opts StackOptions) (*Stack, error) {
	s := &Stack{}
	var err error
	if s.Kumo, err = StartKumo(ctx, opts.Kumo); err != nil {
		return nil, err
	}
	if opts.LocalKMS != nil {
		if s.KMS, err = StartLocalKMS(ctx, *opts.LocalKMS); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	s.Config = NewFakeConfig()
	s.SecurityHub = NewFakeSecurityHub()
	return s, nil
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
	if s.Config != nil {
		s.Config.Close()
	}
	if s.SecurityHub != nil {
		s.SecurityHub.Close()
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
	return env
}

// With returns a copy of env with extra layered on top.
func With(env map[string]string, extra map[string]string) map[string]string {
	out := maps.Clone(env)
	maps.Copy(out, extra)
	return out
}
