package emulator

import (
	"context"
	"errors"
	"maps"
	"net"
	"strconv"
	"testing"
)

// StackOptions chooses what StartStack runs.
type StackOptions struct {
	Kumo     KumoOptions
	LocalKMS *LocalKMSOptions // nil: KMS is served by kumo
	// Fixed, when set, serves kumo and the Config and Security Hub fakes on
	// these ports of Listen, for a local run that sam local invoke's
	// containers reach (events/env.json names the same ports).
	Fixed *FixedPorts
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
}

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
// stack: the SDK's own endpoint variables only, as DESIGN.md requires, plus
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
