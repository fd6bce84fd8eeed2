package policy

// This file is the contract between the policy package and its users (rules,
// plan). Helper A replaces these stubs with the implementation (it may move
// them to other files) but keeps the signatures.

type docMeta struct{}
type stmtMeta struct{}
type principalMeta struct{}

// Parse parses a policy document. It accepts every legal shape: Statement as
// object or array; Action/NotAction/Resource/NotResource/principal values as
// string or array; Principal "*" or {"AWS"|"Service"|"Federated"|"CanonicalUser": string|array};
// any condition operator. It rejects (with a clear error): invalid JSON, a
// top-level value that is not an object, a missing or empty Statement, a
// statement that is not an object, an Effect other than Allow/Deny (any case),
// members of the wrong JSON type, both Action and NotAction, and so on.
func Parse(data []byte) (*Document, error) { panic("TODO") }

// Marshal encodes the document with 2-space indentation, keeping source order
// of members and unknown members. MarshalCompact is the same without spaces.
func (d *Document) Marshal() ([]byte, error)        { panic("TODO") }
func (d *Document) MarshalCompact() ([]byte, error) { panic("TODO") }

// Equal reports whether two policies mean the same (string vs one-item array,
// object vs array Statement, account id vs its :root ARN, action case,
// key order). Either failing to parse is an error.
func Equal(a, b []byte) (bool, error) { panic("TODO") }

// Tri is a three-valued result: a condition that depends on a value not known
// here (e.g. the exact alarm ARN behind aws:SourceArn) is Unknown.
type Tri int8

const (
	False Tri = iota
	True
	Unknown
)

// Context is a request context for condition evaluation. Keys are
// case-insensitive. A key is either absent, present with known values, or
// present with an unknown value (SetUnknown) — conditions on an unknown key
// evaluate to Unknown unless the operator/value decides regardless
// (a "*" pattern with StringLike/ArnLike, Null, ...).
type Context struct{ m map[string]ctxValue }

type ctxValue struct {
	values  []string
	unknown bool
}

// NewContext returns an empty context.
func NewContext() Context { return Context{m: map[string]ctxValue{}} }

// Set sets a key to known values; SetUnknown marks a key present with an unknown value.
func (c Context) Set(key string, values ...string) { panic("TODO") }
func (c Context) SetUnknown(key string)             { panic("TODO") }

// Identity is the principal making a request: a service principal
// ("cloudwatch.amazonaws.com") or an AWS principal ARN / account id.
type Identity struct {
	Service string
	AWS     string
}

// IsAllow and IsDeny compare Effect case-insensitively.
func (s *Statement) IsAllow() bool { panic("TODO") }
func (s *Statement) IsDeny() bool  { panic("TODO") }

// MatchesAction reports whether the statement covers the action, honouring
// Action (case-insensitive, * and ? wildcards) and NotAction (covers everything not listed).
func (s *Statement) MatchesAction(action string) bool { panic("TODO") }

// MatchesResource reports whether the statement covers the resource ARN
// (Resource/NotResource with wildcards; "*" covers all; absent Resource covers all).
func (s *Statement) MatchesResource(arn string) bool { panic("TODO") }

// MatchesPrincipal reports whether the statement's Principal/NotPrincipal
// covers id. "*" and {"AWS":"*"} cover everyone (services included); a Service
// value covers that service (case-insensitive); an account id equals its
// arn:<partition>:iam::<id>:root; an account's root ARN covers every principal
// of that account when delegation is meant (MatchesAWSAccount).
func (s *Statement) MatchesPrincipal(id Identity) bool { panic("TODO") }

// EvalCondition evaluates the whole Condition block against ctx (blocks and
// keys ANDed, values ORed). Semantics: operators case-insensitive; keys
// case-insensitive; IfExists is true when the key is absent; negated operators
// (StringNotEquals, StringNotLike, ArnNotEquals, ArnNotLike, NumericNotEquals,
// DateNotEquals, NotIpAddress) are true when the key is absent; positive
// operators are false when absent; Null tests presence; ForAnyValue:/ForAllValues:
// set qualifiers with IAM's rules for absent keys (ForAllValues true, ForAnyValue false);
// Bool, Numeric*, Date*, IpAddress, BinaryEquals, Arn*, String* (incl. IgnoreCase,
// Like with * and ?). Unknown-valued keys yield Unknown unless decided anyway.
// An unknown operator yields Unknown.
func (s *Statement) EvalCondition(ctx Context) Tri { panic("TODO") }

// MatchWildcard matches s against pattern with * and ? (case-sensitive);
// MatchWildcardFold does it case-insensitively.
func MatchWildcard(pattern, s string) bool     { panic("TODO") }
func MatchWildcardFold(pattern, s string) bool { panic("TODO") }

// Operator describes a condition operator: its base family ("StringEquals",
// "StringLike", "ArnLike", "ArnEquals", "Bool", "Null", ...; canonical case),
// whether it ends in IfExists, whether it is negated, and its set qualifier
// ("", "ForAnyValue", "ForAllValues"). Known reports whether the base is an operator IAM defines.
type Operator struct {
	Base      string
	IfExists  bool
	Negated   bool
	Qualifier string
	Known     bool
}

// ParseOperator splits an operator name such as "ForAnyValue:StringNotLikeIfExists".
func ParseOperator(name string) Operator { panic("TODO") }

// OwnService returns the service principal when the statement is that
// principal's own: Principal is {"Service": P} or {"Service": [P]} with no
// other principal of any kind. The planner edits only such statements in place.
func (s *Statement) OwnService() (string, bool) { panic("TODO") }
