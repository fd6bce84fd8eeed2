package oracle_test

import (
	"encoding/json"
	"strings"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// known is a listed reason for issues the tests tolerate: a simulator
// limitation (with the AWS documentation page that settles it; each is also
// described in LIMITATIONS.md) or an engine bug reported to the engine's
// owners. match sees one issue; it looks only at the statements that apply
// to the issue's principal and action, so that a listed feature elsewhere in
// a policy excuses nothing.
type known struct {
	id    string
	url   string
	why   string
	kinds string // the issue kinds it explains: "request judge" or "widen"
	match func(*issue) bool
}

// limitations are the simulator's departures from IAM as AWS documents it.
var limitations = []known{
	{
		id:  "arn-operator-variables",
		url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#policy-vars-conditionelement",
		why: "policy variables are substituted in ARN operators (ArnEquals, ArnLike and negations) as in string operators; the simulator compares them literally",
		match: func(is *issue) bool {
			return is.version() == "2012-10-17" && is.anyCondition(func(op policy.Operator, key, v string) bool {
				return strings.HasPrefix(op.Base, "Arn") && strings.Contains(v, "${")
			}) && is.explainedBySimulatorVariables()
		},
	},
	{
		id:  "variables-in-2008-policies",
		url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#policy-vars-intro",
		why: "without Version 2012-10-17 a ${...} is a literal string; the simulator substitutes it in string operators anyway",
		match: func(is *issue) bool {
			return is.version() != "2012-10-17" && is.anyCondition(func(op policy.Operator, key, v string) bool {
				return strings.HasPrefix(op.Base, "String") && strings.Contains(v, "${")
			}) && is.explainedBySimulatorVariables()
		},
	},
	{
		id:  "single-valued-operator-on-multivalued-key",
		url: "https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-encryption-context-keys",
		why: `AWS KMS documents "StringEquals": {"kms:EncryptionContextKeys": "AppName"} as allowing when the encryption context includes AppName (a single-valued operator matches when any value of the set matches); the simulator never matches a single-valued operator against a multi-valued key`,
		match: func(is *issue) bool {
			return is.anyCondition(func(op policy.Operator, key, v string) bool {
				k := strings.ToLower(key)
				return op.Qualifier == "" && op.Base != "Null" && (k == "kms:encryptioncontextkeys" || k == "kms:resourcealiases")
			})
		},
	},
	{
		id:  "foranyvalue-ifexists-on-absent-key",
		url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists",
		why: "...IfExists: \"If the key is not present, evaluate the condition element as true\"; the simulator applies ForAnyValue first (false on an absent key). The documentation does not single out the combination; practitioners report IAM behaving as the simulator does, so the engine treats it as undecided (its judge findings are uncertain; the request-level verdict counts an undecided Allow as possible)",
		match: func(is *issue) bool {
			return is.anyCondition(func(op policy.Operator, key, v string) bool {
				_, present := is.lookup(key)
				return op.Qualifier == "ForAnyValue" && op.IfExists && !present
			})
		},
	},
	{
		id:  "arn-pattern-with-fewer-than-six-fields",
		url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN",
		why: "ARN operators compare the six colon-separated fields one by one; a pattern with fewer fields (\"*\", \"arn:*\") is not defined there. docs/DESIGN.md takes a \"*\" value as matching everything (it never restricts); the simulator matches nothing",
		match: func(is *issue) bool {
			return is.anyCondition(func(op policy.Operator, key, v string) bool {
				return strings.HasPrefix(op.Base, "Arn") && strings.Count(v, ":") < 5
			})
		},
	},
	{
		id:  "invalid-condition-operator",
		url: "https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html#API_PutKeyPolicy_Errors",
		why: "a condition operator IAM does not define makes the policy malformed (PutKeyPolicy: MalformedPolicyDocumentException), so no request is ever judged by it; the engine counts such a condition as undecided, the simulator as false",
		match: func(is *issue) bool {
			return is.anyCondition(func(op policy.Operator, key, v string) bool { return !op.Known })
		},
	},
	{
		id:  "service-principal-case",
		url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-services",
		why: "the Principal documentation names service principals in lower case and does not say whether the match ignores case; the engine matches case-insensitively (lenient for a grant, strict for a deny), the simulator exactly",
		match: func(is *issue) bool {
			for _, s := range is.statements() {
				for _, p := range []*policy.Principal{s.Principal, s.NotPrincipal} {
					if p == nil || p.Service == nil {
						continue
					}
					for _, v := range p.Service.Items {
						if v != is.principal && strings.EqualFold(v, is.principal) {
							return true
						}
					}
				}
			}
			return false
		},
	},
}

// knownEngineBugs are disagreements that are engine bugs, open while their
// fixes are not merged: add an entry (id, kinds, why, match) when the oracle
// finds one that cannot be fixed at once, and remove it with the fix (the
// test fails on an entry that no longer matches anything). Empty: the engine
// agrees with the oracle beyond the simulator limitations above.
var knownEngineBugs = []known{}

// explainedBySimulatorVariables reports whether the simulator's reading of
// policy variables accounts for the whole disagreement: the engine, made to
// read them as the simulator does (substituted in String operators whatever
// the Version, literal in ARN operators), reaches the oracle's verdict. A
// request issue that it does not explain stays a disagreement, so the two
// variable limitations excuse nothing else in the same policy. A judge issue
// (Evaluate's findings) cannot be replayed so: it is explained when the
// policy has such variables in the applying statements.
func (is *issue) explainedBySimulatorVariables() bool {
	if is.kind != "request" {
		return true
	}
	var raw map[string]any
	if err := json.Unmarshal(is.policy, &raw); err != nil {
		return false
	}
	raw["Version"] = "2012-10-17"
	var stmts []any
	switch st := raw["Statement"].(type) {
	case []any:
		stmts = st
	case map[string]any:
		stmts = []any{st}
	}
	for _, x := range stmts {
		st, _ := x.(map[string]any)
		cond, _ := st["Condition"].(map[string]any)
		for op, block := range cond {
			if !strings.HasPrefix(policy.ParseOperator(op).Base, "Arn") {
				continue
			}
			keys, _ := block.(map[string]any)
			for k, v := range keys {
				keys[k] = literalVariables(v)
			}
		}
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return false
	}
	doc, err := policy.Parse(b)
	if err != nil {
		return false
	}
	return string(rules.GrantVerdict(doc, is.keyARN, is.principal, is.context.Engine())) == is.oracle
}

// literalVariables rewrites condition values so that a 2012-10-17 reading
// leaves their ${...} as text: ${$} stands for "$".
func literalVariables(v any) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "${", "${$}{")
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = literalVariables(e)
		}
		return out
	}
	return v
}

func (is *issue) doc() *policy.Document {
	d, err := policy.Parse(is.policy)
	if err != nil {
		return nil
	}
	return d
}

func (is *issue) version() string {
	if d := is.doc(); d != nil {
		return d.Version
	}
	return ""
}

func (is *issue) lookup(key string) ([]string, bool) {
	for k, v := range is.context {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// statements are the statements that apply to the issue: for a request or
// judge issue those covering its principal and either SNS action on the
// key; for a widening every statement of the fixed policy.
func (is *issue) statements() []*policy.Statement {
	d := is.doc()
	if d == nil {
		return nil
	}
	if is.kind == "widen" {
		return d.Statements
	}
	var out []*policy.Statement
	for _, s := range d.Statements {
		if s.MatchesPrincipal(policy.Identity{Service: is.principal}) && s.MatchesResource(is.keyARN) &&
			(s.MatchesAction(actGDK) || s.MatchesAction(actDec)) {
			out = append(out, s)
		}
	}
	return out
}

// anyCondition reports whether a condition value of an applying statement
// satisfies f.
func (is *issue) anyCondition(f func(op policy.Operator, key, value string) bool) bool {
	for _, s := range is.statements() {
		for _, b := range s.Condition {
			op := policy.ParseOperator(b.Operator)
			for _, k := range b.Keys {
				if len(k.Values.Items) == 0 && f(op, k.Key, "") {
					return true
				}
				for _, v := range k.Values.Items {
					if f(op, k.Key, v) {
						return true
					}
				}
			}
		}
	}
	return false
}
