package spec

import (
	"strings"
	"testing"
)

// TestRedactingLinesAcrossWrites: a value cut between two writes, also past
// the length at which a line is passed on in pieces, is redacted whole.
func TestRedactingLinesAcrossWrites(t *testing.T) {
	const secret = "tok-9f8e7d6c5b4a"
	r := &redactor{}
	r.add(secret)
	long := strings.Repeat("x", 64<<10)
	for _, cut := range []int{1, 4, 8, len(secret) - 1} {
		var out strings.Builder
		l := &redactingLines{w: &out, r: r}
		for _, chunk := range []string{long + secret[:cut], secret[cut:] + " end\n", "more " + secret[:cut], secret[cut:]} {
			if _, err := l.Write([]byte(chunk)); err != nil {
				t.Fatal(err)
			}
		}
		l.Flush()
		if got := out.String(); strings.Contains(got, "9f8e") || strings.Contains(got, "5b4a") || strings.Count(got, redacted) != 2 {
			t.Errorf("cut after %d bytes: %q", cut, got[len(long)-10:])
		}
	}
}
