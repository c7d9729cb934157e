package contract_test

import (
	"strings"
	"testing"
	"time"

	"github.com/graphjob/graphjob/contract"
)

// TestSlot: a slot's forms are its UTC time, whatever the zone it is given
// in, and the longest schedule name makes a 63-character Job name.
func TestSlot(t *testing.T) {
	at := time.Date(2026, 3, 29, 3, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	s := contract.Slot{Schedule: "nightly", Time: at}
	if got := s.RunID(); got != "nightly-20260329-010000" {
		t.Errorf("RunID = %q", got)
	}
	if got := s.Stamp(); got != "20260329T010000Z" {
		t.Errorf("Stamp = %q", got)
	}
	if back, err := contract.ParseStamp(s.Stamp()); err != nil || !back.Equal(at) {
		t.Errorf("ParseStamp(%q) = %v, %v", s.Stamp(), back, err)
	}
	if got := s.SlotTimeValue(); got != "2026-03-29T01:00:00Z" {
		t.Errorf("SlotTimeValue = %q", got)
	}
	if back, err := contract.ParseSlotTime("2026-03-29T03:00:00+02:00"); err != nil || !back.Equal(at) {
		t.Errorf("ParseSlotTime = %v, %v", back, err)
	}
	if _, err := contract.ParseSlotTime("yesterday"); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
		t.Errorf("ParseSlotTime(yesterday): %v", err)
	}
	long := strings.Repeat("a", contract.MaxScheduleName)
	if err := contract.CheckScheduleName(long); err != nil {
		t.Error(err)
	}
	if got := (contract.Slot{Schedule: long, Time: at}).RunID(); len(got) != 63 {
		t.Errorf("the longest name makes a %d-character Job name, want 63", len(got))
	}
	for _, bad := range []string{long + "a", "Nightly", "-x", "x-", "", "a_b"} {
		if err := contract.CheckScheduleName(bad); err == nil {
			t.Errorf("CheckScheduleName(%q) = nil", bad)
		}
	}
}
