// Package plan computes the smallest safe change to a KMS key policy that
// makes the given grants true (statement surgery as a pure function). It never
// touches a statement that does not grant a target service principal, never adds
// a principal outside the seed's table, never writes "*", never exceeds 32,768
// bytes, and is idempotent.
package plan

import (
	"errors"

	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// ErrTooLarge means the fixed policy would pass policy.MaxKeyPolicyBytes (POLICY_TOO_LARGE).
var ErrTooLarge = errors.New("fixed key policy would exceed 32768 bytes")

// Change is a planned key-policy change.
type Change struct {
	Policy  []byte   // the complete new policy (valid JSON, <= 32768 bytes)
	Changed bool     // false when the policy already satisfies every grant (Policy is then the input)
	Summary []string // one line per edit, for logs and the report ("add statement for s3.amazonaws.com")
}

// Fix returns the policy with every grant made true. TODO(helper B): implement.
func Fix(policy []byte, grants []rules.Grant) (Change, error) { panic("TODO") }
