package fault

import "testing"

// TestNames holds every class to a distinct name: a class added without a
// name (or two with one) would print as another in logs and tests.
func TestNames(t *testing.T) {
	seen := map[string]Class{}
	for _, c := range Classes() {
		n := c.String()
		if n == "" {
			t.Errorf("class %d has no name", int(c))
		}
		if prev, dup := seen[n]; dup {
			t.Errorf("classes %d and %d are both %q", int(prev), int(c), n)
		}
		seen[n] = c
	}
	if len(seen) != int(Invalid)+1 {
		t.Errorf("%d named classes, want %d (Other..Invalid)", len(seen), int(Invalid)+1)
	}
	if got := Class(99).String(); got != "Other" {
		t.Errorf("an unknown class prints %q, want Other", got)
	}
}
