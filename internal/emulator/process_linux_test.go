package emulator

import (
	"os"
	"slices"
	"testing"
)

// TestChildren finds our test binary among our parent's children, in
// ascending order, the way cmd/bench finds the function under aws-lambda-rie.
func TestChildren(t *testing.T) {
	kids, err := Children(os.Getppid())
	if err != nil || !slices.Contains(kids, os.Getpid()) {
		t.Errorf("Children(parent) = %v, %v; want to include %d", kids, err, os.Getpid())
	}
	if !slices.IsSorted(kids) {
		t.Errorf("Children(parent) = %v, not in ascending order", kids)
	}
}
