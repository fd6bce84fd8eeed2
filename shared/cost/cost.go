// Package cost estimates the AWS KMS requests, and their price, that an
// encrypted SNS topic causes, with the SNS documentation's formula R = B / D * (2 * P):
// B the billing period in seconds, D = 300 (SNS reuses a data key for up to 5
// minutes), P the publishing principals. As the SNS documentation warns, real costs can be
// higher: SNS is distributed and may fetch data keys more often.
package cost

// DataKeyReuseSeconds is D of the SNS documentation's formula.
const DataKeyReuseSeconds = 300

// MonthSeconds is the 30-day month the report uses (2,592,000 s).
const MonthSeconds = 30 * 24 * 60 * 60

// centsPer10kRequests is the published KMS request price, $0.03 per 10,000.
const centsPer10kRequests = 3

// Estimate is the kmsCost member of the report.
type Estimate struct {
	Publishers       int     `json:"publishers"`
	RequestsPerMonth int64   `json:"requestsPerMonth"`
	USDPerMonth      float64 `json:"usdPerMonth"`
}

// Requests is R for one topic over periodSeconds. It multiplies before it
// divides so that periods that are not a multiple of D lose no requests to
// truncation; for the SNS documentation's examples the two orders agree exactly.
// Negative inputs count as zero.
func Requests(periodSeconds int64, publishers int) int64 {
	if periodSeconds <= 0 || publishers <= 0 {
		return 0
	}
	return periodSeconds * 2 * int64(publishers) / DataKeyReuseSeconds
}

// Monthly returns the estimate for one topic over a 30-day month. (It cannot
// be called Estimate: Go forbids a function and a type of the same name.)
// USDPerMonth is rounded half up to whole cents, because the report shows
// money and a sub-cent figure would suggest precision the SNS documentation disclaims
// (17,280 requests cost $0.05184, reported as 0.05).
func Monthly(publishers int) Estimate {
	r := Requests(MonthSeconds, publishers)
	if publishers < 0 {
		publishers = 0
	}
	return Estimate{Publishers: publishers, RequestsPerMonth: r, USDPerMonth: USD(r)}
}

// USD is the published price of requests KMS requests, rounded half up to
// whole cents (a total over many topics is priced from its summed requests,
// not from the per-topic figures, which are rounded each).
func USD(requests int64) float64 {
	if requests <= 0 {
		return 0
	}
	cents := (requests*centsPer10kRequests + 5000) / 10000
	return float64(cents) / 100
}
