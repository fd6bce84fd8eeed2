package reliability

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
	"github.com/snskeyguard/snskeyguard/shared/guard"
	"github.com/snskeyguard/snskeyguard/shared/plan"
	"github.com/snskeyguard/snskeyguard/shared/policy"
)

// faultRules: the PutKeyPolicy write is hit hardest (its faults are the ones
// that could leave a policy half-way), every other call now and then.
var faultRules = []emulator.FaultRule{
	{Ops: []string{"kms:PutKeyPolicy"}, Rate: 0.4},
	{Ops: []string{"*"}, Rate: 0.1},
}

// usedCalls records every AWS operation each function made in the suites,
// for the IAM cross-check in security_test.go.
var usedCalls = struct {
	sync.Mutex
	m map[string]map[string]bool
}{m: map[string]map[string]bool{}}

func recordCalls(fn string, calls map[string]int) {
	usedCalls.Lock()
	defer usedCalls.Unlock()
	if usedCalls.m[fn] == nil {
		usedCalls.m[fn] = map[string]bool{}
	}
	for op := range calls {
		usedCalls.m[fn][op] = true
	}
}

// TestFaults runs topic-guard and key-guard in remediate mode over a key that
// needs a fix, each run on its own seeded fault schedule, and holds every run
// to: success (fixed or alerted) or an invocation error (EventBridge retries,
// then the dead-letter queue keeps the event); the stored policy byte-identical
// to the original or the complete fix; then a clean run converges and a
// second writes nothing.
func TestFaults(t *testing.T) {
	total := runs(24)
	workers := min(8, total)
	var tally struct {
		sync.Mutex
		fixed, alertedOnly, invocationErrors, retried int
		byKind                                        map[string]int
	}
	tally.byKind = map[string]int{}
	t.Run("workers", func(t *testing.T) {
		for wi := range workers {
			t.Run(fmt.Sprint(wi), func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, worldSeed())
				orig := w.policy(keyID)
				if string(orig) != originalPolicy {
					t.Fatalf("seeded policy differs: %s", orig)
				}
				fixed := reference(t, w, orig)
				for r := wi; r < total; r += workers {
					e := []entry{topicGuard, keyGuard}[r%2]
					raw := map[string][]byte{"topic-guard": createTopicEvent(topicARN), "key-guard": putKeyPolicyEvent(keyID)}[e.name]
					w.setPolicy(keyID, orig)
					before := w.proxy.Injected()
					w.proxy.Reset(int64(1000+r), faultRules)
					g, edge := w.guard(guard.ModeRemediate, nil, fastEdge)
					o := invoke(g, e, raw)
					w.proxy.Reset(0, nil)
					recordCalls(e.name, edge.Calls())
					injected := 0
					after := w.proxy.Injected()
					for k, v := range after {
						if d := v - before[k]; d > 0 {
							injected += d
							tally.Lock()
							tally.byKind[k[strings.LastIndex(k, " ")+1:]] += d
							tally.Unlock()
						}
					}
					stored := w.policy(keyID)
					isFix, _ := policy.Equal(stored, fixed)
					fail := func(format string, args ...any) {
						t.Errorf("run %d (%s, seed %d, %d faults %v): %s", r, e.name, 1000+r, injected, diff(before, after), fmt.Sprintf(format, args...))
					}
					if !bytes.Equal(stored, orig) && !isFix {
						fail("stored policy is neither the original nor the complete fix (%v):\n%s", plan.CheckFix(orig, stored), stored)
					}
					switch {
					case o.panicked != nil:
						fail("panic: %v", o.panicked)
					case o.err == nil && !isFix && !alerted(o.rep):
						fail("success without a fix or an alert: %+v", o.rep)
					case o.err == nil && applied(o.rep) && !isFix:
						fail("reported applied but kumo has %s", stored)
					case o.err != nil:
						var re *guard.RetryableError
						if !errors.As(o.err, &re) {
							fail("invocation error not marked retryable (every injected fault is): %v", o.err)
						}
					}
					tally.Lock()
					switch {
					case o.err != nil:
						tally.invocationErrors++
					case isFix:
						tally.fixed++
						if injected > 0 {
							tally.retried++
						}
					default:
						tally.alertedOnly++
					}
					tally.Unlock()
					// The retry (or the next event) converges, and then writes nothing.
					if msg := converge(w, e, raw, fixed); msg != "" {
						fail("after the faults: %s", msg)
					}
					count(func() { figures.faultsInjected += injected })
				}
			})
		}
	})
	kinds := make([]string, 0, len(tally.byKind))
	for k, v := range tally.byKind {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(kinds)
	count(func() {
		figures.faultRuns += total
		figures.faultRunsFixed += tally.fixed
		figures.faultRunsFixedAfterFaults += tally.retried
		figures.faultRunsErr += tally.invocationErrors
	})
	t.Logf("fault runs=%d: fixed=%d (of which after surviving faults in-invocation: %d), alerted only=%d, invocation errors=%d; faults by kind: %s",
		total, tally.fixed, tally.retried, tally.alertedOnly, tally.invocationErrors, strings.Join(kinds, " "))
}

// reference makes the complete fix with a clean topic-guard run, checks it
// independently (invariants, no fixable finding left), checks key-guard
// reaches the same policy, and restores the original.
func reference(t *testing.T, w *world, orig []byte) []byte {
	t.Helper()
	g, _ := w.guard(guard.ModeRemediate, nil, fastEdge)
	if o := invoke(g, topicGuard, createTopicEvent(topicARN)); o.err != nil || o.panicked != nil || !applied(o.rep) {
		t.Fatalf("clean topic-guard run: %v %v %+v", o.err, o.panicked, o.rep)
	}
	fixed := w.policy(keyID)
	if bad := plan.CheckFix(orig, fixed); bad != nil {
		t.Fatalf("the clean fix breaks invariants %v:\n%s", bad, fixed)
	}
	if left := fixable(topicARN, ordersPolicy, fixed, requiredList); left != nil {
		t.Fatalf("the clean fix leaves fixable findings %v:\n%s", left, fixed)
	}
	w.setPolicy(keyID, orig)
	if o := invoke(g, keyGuard, putKeyPolicyEvent(keyID)); o.err != nil || !applied(o.rep) {
		t.Fatalf("clean key-guard run: %v %+v", o.err, o.rep)
	}
	if same, _ := policy.Equal(w.policy(keyID), fixed); !same {
		t.Fatalf("key-guard's fix differs from topic-guard's:\n%s\n%s", w.policy(keyID), fixed)
	}
	w.setPolicy(keyID, orig)
	return fixed
}

// converge runs e twice without faults: the first must leave the complete
// fix, the second must not write. It returns what went wrong ("" = nothing).
func converge(w *world, e entry, raw, fixed []byte) string {
	g, _ := w.guard(guard.ModeRemediate, nil, fastEdge)
	if o := invoke(g, e, raw); o.err != nil || o.panicked != nil {
		return fmt.Sprintf("clean run failed: %v %v", o.err, o.panicked)
	}
	if same, _ := policy.Equal(w.policy(keyID), fixed); !same {
		return fmt.Sprintf("clean run did not converge:\n%s", w.policy(keyID))
	}
	writes := emulator.Total(w.proxy.Forwarded(), "kms:PutKeyPolicy")
	if o := invoke(g, e, raw); o.err != nil || applied(o.rep) {
		return fmt.Sprintf("second clean run: %v %+v", o.err, o.rep)
	}
	if n := emulator.Total(w.proxy.Forwarded(), "kms:PutKeyPolicy"); n != writes {
		return fmt.Sprintf("second clean run wrote the key policy (%d writes)", n-writes)
	}
	return ""
}

func diff(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}
