package spec

import (
	"context"
	"time"

	"github.com/graphjob/graphjob/contract"
)

type slotKey struct{}

// WithSlot returns a context under which a scheduled run's nodes see its
// slot time: run.slot in expressions and in the exec and http request, as
// RFC 3339 in UTC, as the pod's GRAPHJOB_SLOT_TIME. Without it run.slot is
// "".
func WithSlot(ctx context.Context, slot time.Time) context.Context {
	return context.WithValue(ctx, slotKey{}, contract.Slot{Time: slot}.SlotTimeValue())
}

func slotOf(ctx context.Context) string {
	s, _ := ctx.Value(slotKey{}).(string)
	return s
}
