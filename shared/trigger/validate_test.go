package trigger

import (
	"regexp"
	"testing"
)

// The validators must accept exactly what the regular expressions they replaced accept.
func TestValidatorsMatchTheirRegexps(t *testing.T) {
	cases := []struct {
		re *regexp.Regexp
		fn func(string) bool
		in []string
	}{
		{regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`), validRegion, []string{"us-east-1", "us-gov-west-1", "cn-north-1", "eu-central-12", "us-east-123", "us-east", "US-east-1", "u-east-1", "us--east-1", "us-east-1-", "", "-us-east-1", "us-east-a", "us-1"}},
		{regexp.MustCompile(`^[A-Za-z0-9_-]+(\.fifo)?$`), validTopicName, []string{"orders", "orders.fifo", ".fifo", "a.b", "x_y-Z9", "", "a.fifo.fifo", "ü"}},
		{regexp.MustCompile(`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|mrk-[0-9a-fA-F]{32})$`), validKeyID, []string{"1234abcd-12ab-34cd-56ef-1234567890ab", "1234abcd-12ab-34cd-56ef-1234567890a", "mrk-1234abcd12ab34cd56ef1234567890ab", "mrk-1234", "g234abcd-12ab-34cd-56ef-1234567890ab", "", "1234abcd-12ab-34cd-56ef-1234567890ab-"}},
		{regexp.MustCompile(`^alias/[A-Za-z0-9/_-]{1,250}$`), validAliasName, []string{"alias/orders", "alias/", "alias/a/b_c-d", "alias/ü", "orders", "alias/" + string(make([]byte, 0)) + "x"}},
	}
	long := "alias/"
	for i := 0; i < 251; i++ {
		long += "a"
	}
	cases[3].in = append(cases[3].in, long, long[:len(long)-1])
	for _, c := range cases {
		for _, s := range c.in {
			if got, want := c.fn(s), c.re.MatchString(s); got != want {
				t.Errorf("%s %q: got %v, want %v", c.re, s, got, want)
			}
		}
	}
}
