// Package reliability holds the product's reliability and security suites,
// as tests: the guard's real AWS edge talks to kumo through a seeded
// fault-injection proxy (internal/emulator.FaultProxy), and the suites assert
// that faults, races and hostile input lose no event, never leave a partial or
// invalid key policy, and never widen a key beyond the fix.
//
// `go test ./internal/reliability/` runs bounded counts (part of `make test`);
// `make reliability` runs more (RELIABILITY_RUNS) and prints the figures:
// faults_injected, faults_survived, events_lost, invalid_policies_written,
// bad_inputs, panics, race_runs and race_violations. The package has no
// product code.
package reliability
