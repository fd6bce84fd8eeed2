package guard

import (
	"context"
	"sort"

	"github.com/snskeyguard/snskeyguard/shared/report"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// Sweep judges every topic of the own account in region ("" = the
// configured one) the way the Config rule's periodic sweep does, with the
// same reads, plan and (MODE=remediate) writes, but without an event and
// without reporting to AWS Config: `snskeyguard scan` runs it. Alerts and
// Security Hub imports follow the settings (the scan sets neither). Every
// evaluation is kept: a command's output has no response-size limit.
func (g *Guard) Sweep(ctx context.Context, region string) (report.Report, error) {
	rep := report.New(g.Settings.Mode)
	acct, err := g.Account(ctx, "", region)
	if err != nil {
		return rep, g.fault("account", err)
	}
	s := g.newSession(acct)
	arns, err := acct.ListTopics(ctx)
	if err != nil {
		return rep, g.fault("list topics", err)
	}
	sort.Strings(arns)
	topics, err := s.loadTopics(ctx, arns)
	if err != nil {
		return report.Report{}, err
	}
	return g.finish(ctx, s, rep, topics)
}

// HubFindings are the Security Hub findings of one evaluation, as the guard
// imports them when SECURITY_HUB=true (stable ids; resolved once compliant).
func HubFindings(e report.Evaluation) []HubFinding { return hubFindings(e) }

// Severity is the Security Hub severity label of a finding code (CRITICAL,
// HIGH, MEDIUM, LOW), the one HubFindings gives its findings.
func Severity(code rules.Code) string {
	if s := severity[code]; s != "" {
		return s
	}
	return "MEDIUM"
}
