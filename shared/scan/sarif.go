package scan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/snskeyguard/snskeyguard/shared/guard"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// SARIFSchema is the JSON schema of SARIF 2.1.0 (OASIS), named by every log.
const SARIFSchema = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

// CodeInfo describes a finding code for people: DESIGN.md's finding-code
// table (meaning, and what a fix does in remediate mode).
type CodeInfo struct {
	Code        rules.Code
	Description string
	Fix         string
}

// CodeTable lists every finding code in DESIGN.md's order; SARIF has one
// rule per code, in this order, so rule indexes are the same in every run.
var CodeTable = []CodeInfo{
	{rules.TopicUnencrypted, "The topic has no KmsMasterKeyId: it is not encrypted with a KMS key.", "re-point the topic to REMEDIATION_KEY_ID if set, else alert"},
	{rules.KeyAWSManaged, "The topic is encrypted with the AWS managed key (alias/aws/sns), whose policy cannot grant AWS services.", "re-point the topic to REMEDIATION_KEY_ID if set, else alert"},
	{rules.KeyNotSymmetric, "The topic's key is not a symmetric encrypt/decrypt key.", "re-point the topic to REMEDIATION_KEY_ID if set, else alert"},
	{rules.KeyDisabled, "The topic's key is disabled: publishing fails with KMSDisabledException.", "alert"},
	{rules.KeyPendingDeletion, "The topic's key is pending deletion: publishing fails with KMSInvalidStateException.", "alert"},
	{rules.KeyUnavailable, "The topic's key is in a state other than Enabled: publishing fails with KMSInvalidStateException.", "alert"},
	{rules.KeyNotFound, "The topic's key does not exist: publishing fails with KMSNotFoundException.", "alert"},
	{rules.KeyAccessDenied, "The topic's key cannot be described or its policy read.", "alert"},
	{rules.KeyOtherRegion, "The topic's key is in another region than the topic.", "alert"},
	{rules.KeyOtherAccount, "The topic's key belongs to another account.", "alert"},
	{rules.GrantMissing, "A service principal that publishes to the topic is not allowed kms:GenerateDataKey* and kms:Decrypt by the key policy: its messages fail with KMSAccessDeniedException.", "add a statement for the principal to the key policy"},
	{rules.GrantDenied, "An explicit deny in the key policy blocks a service principal that publishes to the topic.", "alert"},
	{rules.ConfusedDeputyMissing, "A grant to a service principal (other than EventBridge) lacks the confused-deputy conditions aws:SourceAccount and aws:SourceArn.", "add the conditions when the statement is the principal's own, else alert"},
	{rules.ConfusedDeputyMismatch, "The confused-deputy conditions of a grant name another account.", "alert"},
	{rules.ConfusedDeputyUnsupported, "EventBridge (events.amazonaws.com) is granted only through statements that require aws:SourceAccount/aws:SourceArn, keys EventBridge does not send: delivery fails.", "move EventBridge to an unconditioned statement"},
	{rules.AliasRequired, "Key or IAM policies use kms:ResourceAliases and the key has no alias.", "alert"},
	{rules.PublisherNotGranted, "An AWS principal the topic policy allows to publish cannot use the key.", "alert"},
	{rules.SourceNeedsRole, "A publishing source needs an IAM role, not a service principal grant.", "alert"},
	{rules.PolicyUnparseable, "The key policy cannot be parsed.", "alert"},
	{rules.PolicyTooLarge, "The fix would make the key policy larger than 32,768 bytes.", "alert"},
}

// SARIF writes the report as a SARIF 2.1.0 log: one rule per finding code,
// one result per finding, located at the topic (a logical location: the
// scan reads an AWS account, not files), with a fingerprint that stays the
// same for the same topic, code and principal across runs (the identity of
// the guard's Security Hub findings).
func SARIF(w io.Writer, r Result, version string) error {
	type text struct {
		Text string `json:"text"`
	}
	type rule struct {
		ID                   string            `json:"id"`
		Name                 string            `json:"name"`
		ShortDescription     text              `json:"shortDescription"`
		FullDescription      text              `json:"fullDescription"`
		Help                 text              `json:"help"`
		DefaultConfiguration map[string]string `json:"defaultConfiguration"`
		Properties           map[string]any    `json:"properties"`
	}
	type logical struct {
		FullyQualifiedName string `json:"fullyQualifiedName"`
		Name               string `json:"name"`
		Kind               string `json:"kind"`
	}
	type location struct {
		LogicalLocations []logical `json:"logicalLocations"`
	}
	type result struct {
		RuleID              string            `json:"ruleId"`
		RuleIndex           int               `json:"ruleIndex"`
		Kind                string            `json:"kind"`
		Level               string            `json:"level"`
		Message             text              `json:"message"`
		Locations           []location        `json:"locations"`
		PartialFingerprints map[string]string `json:"partialFingerprints"`
		Properties          map[string]any    `json:"properties"`
	}
	rulesOut := make([]rule, len(CodeTable))
	index := map[rules.Code]int{}
	for i, c := range CodeTable {
		index[c.Code] = i
		sev := guard.Severity(c.Code)
		rulesOut[i] = rule{
			ID: string(c.Code), Name: ruleName(c.Code),
			ShortDescription:     text{string(c.Code)},
			FullDescription:      text{c.Description},
			Help:                 text{c.Description + " Fix in remediate mode: " + c.Fix + "."},
			DefaultConfiguration: map[string]string{"level": level(sev)},
			Properties:           map[string]any{"security-severity": securitySeverity[sev], "severity": sev, "tags": []string{"security", "aws", "sns", "kms"}},
		}
	}
	results := []result{}
	for _, e := range r.Report.Evaluations {
		for _, f := range e.Findings {
			i, ok := index[f.Code]
			if !ok {
				return fmt.Errorf("sarif: finding code %q has no rule", f.Code)
			}
			kind, lvl := "fail", level(guard.Severity(f.Code))
			msg := f.Message
			if e.Compliance != rules.NonCompliant {
				// Fixed (or no longer applicable) in this run: kept as a pass, as
				// the guard resolves its Security Hub finding.
				kind, lvl = "pass", "none"
				msg += " (" + e.Compliance + " after this run)"
			}
			props := map[string]any{"topicArn": e.ResourceID, "compliance": e.Compliance, "fixable": f.Fixable}
			if f.KeyARN != "" {
				props["keyArn"] = f.KeyARN
			}
			if f.Principal != "" {
				props["principal"] = f.Principal
			}
			if f.Uncertain {
				props["uncertain"] = true
			}
			results = append(results, result{
				RuleID: string(f.Code), RuleIndex: i, Kind: kind, Level: lvl, Message: text{msg},
				Locations:           []location{{LogicalLocations: []logical{{FullyQualifiedName: e.ResourceID, Name: topicName(e.ResourceID), Kind: "resource"}}}},
				PartialFingerprints: map[string]string{"snskeyguardFinding/v1": Fingerprint(e.ResourceID, f)},
				Properties:          props,
			})
		}
	}
	driver := map[string]any{
		"name": "snskeyguard", "version": version,
		"informationUri": "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html",
		"rules":          rulesOut,
	}
	if isSemver(version) {
		driver["semanticVersion"] = version
	}
	log := map[string]any{
		"$schema": SARIFSchema,
		"version": "2.1.0",
		"runs": []any{map[string]any{
			"tool":       map[string]any{"driver": driver},
			"results":    results,
			"properties": map[string]any{"account": r.Account, "regions": r.Regions, "mode": r.Report.Mode},
		}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

// Fingerprint is the stable identity of a finding: a hash of the topic, the
// code and the principal, the parts of the guard's Security Hub finding id.
func Fingerprint(topicARN string, f rules.Finding) string {
	id := topicARN + "/" + string(f.Code)
	if f.Principal != "" {
		id += "/" + f.Principal
	}
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:16])
}

// level maps a Security Hub severity to a SARIF level.
func level(severity string) string {
	switch severity {
	case "CRITICAL", "HIGH":
		return "error"
	case "MEDIUM":
		return "warning"
	}
	return "note"
}

// securitySeverity is the numeric score code-scanning tools sort by (0-10).
var securitySeverity = map[string]string{"CRITICAL": "9.5", "HIGH": "8.0", "MEDIUM": "5.5", "LOW": "3.0", "INFORMATIONAL": "0.0"}

// ruleName is the code in UpperCamelCase (GRANT_MISSING -> GrantMissing).
func ruleName(c rules.Code) string {
	out := make([]byte, 0, len(c))
	upper := true
	for i := 0; i < len(c); i++ {
		ch := c[i]
		switch {
		case ch == '_':
			upper = true
			continue
		case upper && ch >= 'a' && ch <= 'z':
			ch -= 'a' - 'A'
		case !upper && ch >= 'A' && ch <= 'Z':
			ch += 'a' - 'A'
		}
		upper = false
		out = append(out, ch)
	}
	return string(out)
}

// isSemver says whether a version may be SARIF's semanticVersion (a build
// from a checkout is "devel", which is not).
func isSemver(v string) bool {
	return len(v) > 0 && v[0] >= '0' && v[0] <= '9'
}
