package spec

import (
	"context"
	"time"
)

type slotKey struct{}

// WithSlot returns a context under which a scheduled run's nodes see its
// slot time: run.slot in expressions and in the exec and http request, as
// RFC 3339 in UTC. Without it run.slot is "".
func WithSlot(ctx context.Context, slot time.Time) context.Context {
	return context.WithValue(ctx, slotKey{}, slot.UTC().Format(time.RFC3339))
}

func slotOf(ctx context.Context) string {
	s, _ := ctx.Value(slotKey{}).(string)
	return s
}
