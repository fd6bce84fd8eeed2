package guard

import (
	"fmt"
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
	return s, nil
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
