// Package layout holds the repository's import rules as a test (go list):
// the pure packages import no AWS SDK, only the edge does, the functions
// import only their wiring, and the product never imports its tooling.
package layout
