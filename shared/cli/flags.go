package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/guard"
)

// Outputs accepted by --output.
const (
	OutputTable = "table"
	OutputJSON  = "json"
	OutputSARIF = "sarif"
	OutputASFF  = "asff"
)

// DefaultExemptTagKey is the template's default ExemptTagKey, so a scan
// judges the account the way the deployed guard would.
const DefaultExemptTagKey = "snskeyguard:exempt"

// options are the parsed flags of `snskeyguard scan`.
type options struct {
	Profile     string
	Regions     []string
	EndpointURL string
	Output      string
	Apply       bool
	Yes         bool
	Quiet       bool
	Debug       bool
	Settings    guard.Settings
}

var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// regionList is --region: repeatable, each a comma list.
type regionList []string

func (r *regionList) String() string { return strings.Join(*r, ",") }
func (r *regionList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if !regionPattern.MatchString(p) {
			return fmt.Errorf("%q is not an AWS region (want e.g. us-east-1)", p)
		}
		if !contains(*r, p) {
			*r = append(*r, p)
		}
	}
	return nil
}

// boolText is a boolean flag whose value is checked by the guard's own
// settings parser (--discover-sources, --discover-sources=false).
type boolText struct{ v string }

func (b *boolText) String() string     { return b.v }
func (b *boolText) Set(v string) error { b.v = v; return nil }
func (b *boolText) IsBoolFlag() bool   { return true }

// settingFlags maps the functions' environment settings to the flags that
// set them here, to name the flag in a validation error.
var settingFlags = []struct{ env, flag string }{
	{"REQUIRED_SERVICE_PRINCIPALS", "--required-principals"},
	{"DISCOVER_SOURCES", "--discover-sources"},
	{"EXEMPT_TAG_KEY", "--exempt-tag-key"},
	{"REMEDIATION_KEY_ID", "--remediation-key-id"},
}

const usageText = `Usage: snskeyguard scan [flags]

Reads every SNS topic of one AWS account in one or more regions, judges each
with the guard's engine (the same checks as the deployed functions), and prints
the verdicts, the key-policy diff of each fix and the monthly KMS cost estimate.
Nothing is written unless --apply is given. Credentials and region come from the
AWS SDK's default chain (environment, shared config and SSO profiles).

Exit codes: 0 every topic compliant, 1 findings, 2 error.

Flags:
`

// parse reads the flags of `snskeyguard scan`.
func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	var regions regionList
	discover := &boolText{v: "true"}
	var required, exempt, remediationKey string
	fs := flag.NewFlagSet("snskeyguard scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Profile, "profile", "", "shared config or SSO `profile` (default: AWS_PROFILE, else default)")
	fs.Var(&regions, "region", "`region` to scan; repeat or give a comma list (default: the configured region)")
	fs.StringVar(&o.EndpointURL, "endpoint-url", "", "send every AWS call to this `URL` (as AWS_ENDPOINT_URL does), e.g. an emulator")
	fs.StringVar(&o.Output, "output", OutputTable, "output `format`: table, json (the functions' report), sarif or asff")
	fs.StringVar(&o.Output, "o", OutputTable, "shorthand for --output")
	fs.BoolVar(&o.Apply, "apply", false, "write the fixes after showing them (asks first unless --yes)")
	fs.BoolVar(&o.Yes, "yes", false, "with --apply: write without asking")
	fs.BoolVar(&o.Yes, "y", false, "shorthand for --yes")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress on stderr")
	fs.BoolVar(&o.Quiet, "q", false, "shorthand for --quiet")
	fs.BoolVar(&o.Debug, "debug", false, "log the guard's decisions on stderr")
	fs.StringVar(&required, "required-principals", "", "comma `list` of service principals every topic must serve (REQUIRED_SERVICE_PRINCIPALS)")
	fs.Var(discover, "discover-sources", "also require cloudwatch / events when an alarm / EventBridge rule targets the topic (DISCOVER_SOURCES)")
	fs.StringVar(&exempt, "exempt-tag-key", DefaultExemptTagKey, "a topic or key with this tag `key` is NOT_APPLICABLE (EXEMPT_TAG_KEY; \"\" for none)")
	fs.StringVar(&remediationKey, "remediation-key-id", "", "`key` that unencrypted / AWS-managed-key topics are moved to (REMEDIATION_KEY_ID)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch o.Output {
	case OutputTable, OutputJSON, OutputSARIF, OutputASFF:
	default:
		return o, fmt.Errorf("--output %q: want table, json, sarif or asff", o.Output)
	}
	if o.Yes && !o.Apply {
		return o, errors.New("--yes is only meaningful with --apply")
	}
	o.Regions = regions
	// The same parser and checks as the functions' environment.
	env := map[string]string{
		"MODE":                        guard.ModeAlert,
		"REQUIRED_SERVICE_PRINCIPALS": required,
		"DISCOVER_SOURCES":            discover.v,
		"EXEMPT_TAG_KEY":              exempt,
		"REMEDIATION_KEY_ID":          remediationKey,
	}
	s, err := guard.SettingsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		msg := err.Error()
		for _, m := range settingFlags {
			if strings.HasPrefix(msg, m.env) {
				msg = m.flag + strings.TrimPrefix(msg, m.env)
			}
		}
		return o, errors.New(msg)
	}
	o.Settings = s
	return o, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
