package engine

import "context"

// Fence names the shard lease an event was delivered under, in cluster
// mode (nil otherwise). A plugin's KV writes made while handling the event
// carry it to the store, which refuses them once the lease has moved to
// another node or expired, and records each by (Event, plugin, ordinal)
// so that the committed writes of an event delivered again after a
// hand-over are not applied twice.
type Fence struct {
	Shard      int
	Node       string
	Generation int64
	Event      string // the event's ledger key: shard/session/seq
	// Set by the engine for each write: the plugin and the write's
	// ordinal within its handling of the event.
	Plugin  string
	Ordinal int
}

type fenceKey struct{}

// WithFence returns ctx carrying f for the store.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceFrom returns the fence ctx carries, if any.
func FenceFrom(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}
