package guard

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Modes.
const (
	ModeAlert     = "alert"
	ModeRemediate = "remediate"
)

// Settings is the configuration of docs/DESIGN.md, read from the environment.
type Settings struct {
	Mode                 string
	RequiredPrincipals   []string
	DiscoverSources      bool
	AlertTopicARN        string
	RemediationKeyID     string
	ExemptTagKey         string
	CrossAccountRoleName string
	SecurityHub          bool
	// AnnounceQueueURL is the SQS queue an applied change's announcement
	// is written to when the alert topic cannot take it ("" = none; the
	// template sets the stack's dead-letter queue).
	AnnounceQueueURL string
}

// SettingsFromEnv reads and validates the settings. An invalid value is an
// error (the function then fails at init rather than guessing).
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{
		Mode:                 strings.ToLower(strings.TrimSpace(getenv("MODE"))),
		AlertTopicARN:        strings.TrimSpace(getenv("ALERT_TOPIC_ARN")),
		RemediationKeyID:     strings.TrimSpace(getenv("REMEDIATION_KEY_ID")),
		ExemptTagKey:         strings.TrimSpace(getenv("EXEMPT_TAG_KEY")),
		CrossAccountRoleName: strings.TrimSpace(getenv("CROSS_ACCOUNT_ROLE_NAME")),
		AnnounceQueueURL:     strings.TrimSpace(getenv("ANNOUNCE_QUEUE_URL")),
	}
	if s.Mode == "" {
		s.Mode = ModeAlert
	}
	if s.Mode != ModeAlert && s.Mode != ModeRemediate {
		return Settings{}, fmt.Errorf("MODE %q: want %q or %q", getenv("MODE"), ModeAlert, ModeRemediate)
	}
	var err error
	if s.RequiredPrincipals, err = parsePrincipals(getenv("REQUIRED_SERVICE_PRINCIPALS")); err != nil {
		return Settings{}, fmt.Errorf("REQUIRED_SERVICE_PRINCIPALS: %w", err)
	}
	if s.DiscoverSources, err = parseBool("DISCOVER_SOURCES", getenv("DISCOVER_SOURCES")); err != nil {
		return Settings{}, err
	}
	if s.SecurityHub, err = parseBool("SECURITY_HUB", getenv("SECURITY_HUB")); err != nil {
		return Settings{}, err
	}
	if s.AlertTopicARN != "" && !strings.HasPrefix(s.AlertTopicARN, "arn:") {
		return Settings{}, fmt.Errorf("ALERT_TOPIC_ARN %q is not an ARN", s.AlertTopicARN)
	}
	if s.AnnounceQueueURL != "" {
		if err := checkQueueURL(s.AnnounceQueueURL); err != nil {
			return Settings{}, fmt.Errorf("ANNOUNCE_QUEUE_URL %q: %w", s.AnnounceQueueURL, err)
		}
	}
	return s, nil
}

// queuePath is the path of an SQS queue URL: /<12-digit account>/<queue
// name>, a name of 1 to 80 letters, digits, hyphens and underscores (".fifo"
// at the end of a FIFO queue's):
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-queue-message-identifiers.html
var queuePath = regexp.MustCompile(`^/[0-9]{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?$`)

// checkQueueURL accepts an SQS queue URL (https://sqs.<region>.amazonaws.com/
// <account>/<name>, or an emulator's http(s)://host/<account>/<name>).
func checkQueueURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("not a queue URL (want https://sqs.<region>.amazonaws.com/<account>/<queue name>)")
	}
	if !queuePath.MatchString(u.Path) {
		return fmt.Errorf("the path %q is not /<12-digit account>/<queue name>", u.Path)
	}
	return nil
}

// QueueRegion is the Region of an SQS queue URL (sqs.<region>.amazonaws.com,
// or the legacy <region>.queue.amazonaws.com); "" when the host names none
// (an emulator), meaning the function's own.
func QueueRegion(queueURL string) string {
	u, err := url.Parse(queueURL)
	if err != nil {
		return ""
	}
	h := strings.Split(u.Hostname(), ".")
	switch {
	case len(h) >= 4 && h[0] == "sqs" && h[2] == "amazonaws":
		return h[1]
	case len(h) >= 4 && h[1] == "queue" && h[2] == "amazonaws":
		return h[0]
	}
	return ""
}

// parsePrincipals reads a comma list of service principals.
func parsePrincipals(v string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		if p == "*" || strings.ContainsAny(p, "*? ") || !strings.HasSuffix(p, ".amazonaws.com") {
			return nil, fmt.Errorf("%q is not a service principal (want e.g. cloudwatch.amazonaws.com)", p)
		}
		out = appendUnique(out, p)
	}
	return out, nil
}

func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false", "0", "no":
		return false, nil
	case "true", "1", "yes":
		return true, nil
	}
	return false, fmt.Errorf("%s %q: want true or false", name, v)
}

func appendUnique(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}
