// Package fault names what the guard can do about a failed AWS call. The
// edge (shared/awsedge) classifies every AWS error into a Class once, and the
// engine (shared/guard) branches on it; both use this one type, so a class
// means the same thing on both sides by name, never by position.
package fault

// Class is what the guard can do about a failed AWS call.
type Class int

const (
	// Other is an error no rule recognises (and nil): the guard fails the
	// invocation rather than guess.
	Other Class = iota
	// Retryable errors (throttling, server faults, timeouts, broken
	// connections) may succeed later: the invocation fails so EventBridge
	// retries and the dead-letter queue keeps the event.
	Retryable
	// NotFound: the resource does not exist (KMSNotFoundException, ...).
	NotFound
	// AccessDenied: the caller may not do this (KMSAccessDeniedException, ...).
	AccessDenied
	// Disabled: the KMS key is disabled (KMSDisabledException).
	Disabled
	// InvalidState: the KMS key's state forbids the call (KMSInvalidStateException).
	InvalidState
	// OptIn: the account needs a subscription (KMSOptInRequired).
	OptIn
	// Invalid is a request the service rejected as malformed; retrying it
	// cannot help.
	Invalid
)

var names = [...]string{
	Other:        "Other",
	Retryable:    "Retryable",
	NotFound:     "NotFound",
	AccessDenied: "AccessDenied",
	Disabled:     "Disabled",
	InvalidState: "InvalidState",
	OptIn:        "OptIn",
	Invalid:      "Invalid",
}

// Classes is every class, in declaration order.
func Classes() []Class {
	out := make([]Class, len(names))
	for i := range names {
		out[i] = Class(i)
	}
	return out
}

func (c Class) String() string {
	if c < 0 || int(c) >= len(names) {
		return "Other"
	}
	return names[c]
}
