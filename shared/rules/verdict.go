package rules

import "github.com/snskeyguard/snskeyguard/shared/policy"

// Verdict is the engine's decision on one service principal's grant in one
// request context, as Evaluate reaches it: the same deny and allow checks.
type Verdict string

const (
	VerdictAllowed   Verdict = "Allowed"          // both kms:GenerateDataKey and kms:Decrypt allowed, no deny
	VerdictDenied    Verdict = "ExplicitlyDenied" // a deny certainly applies to either action
	VerdictImplicit  Verdict = "ImplicitlyDenied" // not denied, but an action is not allowed
	VerdictUndecided Verdict = "Undecided"        // a deny might apply (its condition cannot be decided)
)

// GrantVerdict judges whether the key policy doc (of the key keyARN) lets
// principal use the key for SNS (kms:GenerateDataKey and kms:Decrypt) in the
// request context ctx. It exists so that an independent IAM evaluator can be
// asked the same question in tests; Evaluate itself does not call it.
func GrantVerdict(doc *policy.Document, keyARN, principal string, ctx policy.Context) Verdict {
	e := &evaluator{doc: doc, keyARN: keyARN}
	id := policy.Identity{Service: principal}
	// Policy variables are substituted only in 2012-10-17 policies, as
	// Evaluate's own request contexts do (policy.Context.ForDocument).
	ctxs := []policy.Context{ctx.ForDocument(doc)}
	certain, uncertain, _ := e.denies(id, ctxs)
	switch {
	case certain:
		return VerdictDenied
	case uncertain:
		return VerdictUndecided
	case e.allowedBoth(id, ctxs):
		return VerdictAllowed
	}
	return VerdictImplicit
}
