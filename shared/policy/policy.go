// Package policy is the IAM policy model used for KMS key policies and SNS
// topic policies: a parser that accepts every legal shape, a marshaller that
// keeps statement order, key order and unknown fields (so a fixed policy
// differs from the original only where the fix is), semantic equality, and the
// evaluation primitives (action, resource, principal and condition matching)
// that the rules and the planner build on. It imports no AWS SDK.
package policy

import "encoding/json"

// MaxKeyPolicyBytes is the largest key policy KMS accepts (32 KB).
const MaxKeyPolicyBytes = 32768

// Document is a parsed policy. Marshal reproduces it with the original top-level
// key order, unknown top-level fields, Statement as object or array as it was.
type Document struct {
	Version    string
	ID         string
	Statements []*Statement
	meta       docMeta
	// src is the text Parse read this document from ("" for a document
	// built or cloned by code); see ParsedFrom.
	src string
}

// ParsedFrom reports whether d is the document Parse returned for data, so
// that a caller holding both (a sweep that parses each key policy once for
// many topics) can use d instead of parsing data again. It compares text,
// about a microsecond for a 32 KB policy, so a policy re-read after an
// outside edit is never judged by a stale document. It trusts that nobody
// edited d after Parse: code that edits a policy edits a Clone.
func (d *Document) ParsedFrom(data []byte) bool {
	return d != nil && len(data) > 0 && d.src == string(data)
}

// Statement is one policy statement. Fields absent in the source are nil/empty;
// Marshal keeps the original key order and unknown members. Code that edits a
// statement edits these fields and Marshal re-encodes from them.
type Statement struct {
	Sid          string
	Effect       string     // "Allow" or "Deny" (as written; compare case-insensitively)
	Principal    *Principal // nil when absent
	NotPrincipal *Principal // nil when absent
	Action       *Values    // nil when absent
	NotAction    *Values
	Resource     *Values
	NotResource  *Values
	Condition    Conditions // nil/empty when absent
	meta         stmtMeta
}

// Principal is a Principal or NotPrincipal element. `"*"` parses as Wildcard;
// `{"AWS":"*"}` parses as AWS=["*"]; both mean everyone (see Everyone()).
type Principal struct {
	Wildcard      bool // the bare string "*"
	AWS           *Values
	Service       *Values
	Federated     *Values
	CanonicalUser *Values
	meta          principalMeta
}

// Values is a string-or-array member. Single records that the source used a
// bare string (Marshal writes it back the same way while it has one item).
// Raw keeps non-string JSON scalars (numbers, booleans) of condition values;
// Items holds their text form ("true", "42").
type Values struct {
	Items  []string
	Single bool
	raw    []json.RawMessage
}

// Conditions is the Condition block in source order: operator blocks, each with
// its keys in source order.
type Conditions []ConditionBlock

// ConditionBlock is one operator ("StringEquals", "ForAnyValue:StringLike",
// "ArnLikeIfExists", ...) with its keys.
type ConditionBlock struct {
	Operator string
	Keys     []ConditionKey
}

// ConditionKey is one condition key (as written, e.g. "aws:SourceAccount") and its values.
type ConditionKey struct {
	Key    string
	Values Values
}

// docMeta remembers how the source was written so Marshal can reproduce it.
type docMeta struct {
	order      []string                   // member names in source order, without duplicates
	unknown    map[string]json.RawMessage // members this package does not model, verbatim
	stmtObject bool                       // Statement was a bare object, not an array
}

// stmtMeta is docMeta's counterpart for one statement.
type stmtMeta struct {
	order   []string
	unknown map[string]json.RawMessage
}

// principalMeta keeps the source order of principal types ("Service" before "AWS", ...).
type principalMeta struct {
	order []string
}
