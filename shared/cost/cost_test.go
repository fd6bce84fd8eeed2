package cost

import (
	"encoding/json"
	"testing"
)

func TestSeedExamples(t *testing.T) {
	// Example 1: January (31 days), 1 topic, 1 publisher.
	if got := Requests(2678400, 1); got != 17856 {
		t.Errorf("January, 1 publisher: %d, want 17856", got)
	}
	// Example 2: February (28 days), topics with 3 and 5 publishers.
	if got := Requests(2419200, 3) + Requests(2419200, 5); got != 129024 {
		t.Errorf("February, 3+5 publishers: %d, want 129024", got)
	}
}

func TestMonthly(t *testing.T) {
	cases := []struct {
		publishers int
		want       string
	}{
		{1, `{"publishers":1,"requestsPerMonth":17280,"usdPerMonth":0.05}`}, // docs/DESIGN.md's example
		{3, `{"publishers":3,"requestsPerMonth":51840,"usdPerMonth":0.16}`}, // 0.15552 rounds up
		{10, `{"publishers":10,"requestsPerMonth":172800,"usdPerMonth":0.52}`},
		{0, `{"publishers":0,"requestsPerMonth":0,"usdPerMonth":0}`},
		{-2, `{"publishers":0,"requestsPerMonth":0,"usdPerMonth":0}`},
	}
	for _, c := range cases {
		b, err := json.Marshal(Monthly(c.publishers))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("Monthly(%d) = %s, want %s", c.publishers, b, c.want)
		}
	}
}

func TestRequestsEdges(t *testing.T) {
	if got := Requests(0, 3); got != 0 {
		t.Errorf("zero period: %d", got)
	}
	if got := Requests(-5, 3); got != 0 {
		t.Errorf("negative period: %d", got)
	}
	// 150 s with 1 publisher: half a reuse period, one request (2*150/300).
	if got := Requests(150, 1); got != 1 {
		t.Errorf("Requests(150,1) = %d, want 1", got)
	}
}

// USD prices a summed request count once: two topics of 17,280 requests
// cost $0.10 (34,560 requests), not 2 x $0.05 rounded each.
func TestUSD(t *testing.T) {
	for in, want := range map[int64]float64{0: 0, -5: 0, 17280: 0.05, 34560: 0.10, 51840: 0.16, 1666: 0, 1667: 0.01, 10000000: 30} {
		if got := USD(in); got != want {
			t.Errorf("USD(%d) = %v, want %v", in, got, want)
		}
	}
	if USD(Monthly(3).RequestsPerMonth) != Monthly(3).USDPerMonth {
		t.Error("Monthly prices with USD")
	}
}
