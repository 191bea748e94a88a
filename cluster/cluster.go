// Package cluster runs many maid nodes on one PostgreSQL: node membership
// by heartbeat, gateway shards owned through lease rows with a fencing
// generation, balance over the live nodes, and drain. It holds no
// consensus of its own: the database's row locks and clock decide, as in
// the lease-row leader election of job queues (a row with a time to live,
// polling, and NOTIFY only to speed a hand-over up).
//
// The database is reached through Store, a port the store package
// implements; the gateway shards through Shards, which the discord
// package implements. Neither is imported here.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors of this package (wrapped with %w).
var (
	// ErrFenced: the lease named by a write is no longer held with that
	// generation (another node took the shard over, or it expired); the
	// write was not made.
	ErrFenced = errors.New("shard lease lost (fenced)")
	// ErrBudget: the daily session-start budget is spent.
	ErrBudget = errors.New("identify budget spent for today")
	// ErrUnsupported: the store cannot run a cluster (SQLite).
	ErrUnsupported = errors.New("cluster mode needs PostgreSQL")
)

// Session is a shard's gateway session as persisted for a hand-over: the
// next owner resumes it, so Discord replays what was missed.
type Session struct {
	ID        string `json:"session_id"`
	Seq       int64  `json:"seq"` // every dispatch up to Seq was handled
	ResumeURL string `json:"resume_url,omitempty"`
}

// Lease is one shard's ownership row.
type Lease struct {
	Shard      int       `json:"shard"`
	ShardCount int       `json:"shard_count"`
	Node       string    `json:"node"` // "" when free
	Generation int64     `json:"generation"`
	ExpiresAt  time.Time `json:"expires_at"`
	Expired    bool      `json:"expired"` // by the database's clock
	RenewedAt  time.Time `json:"renewed_at"`
	Session    Session   `json:"session"`
	Handovers  int64     `json:"handovers"`  // owner changes so far
	LastEvent  time.Time `json:"last_event"` // last checkpoint of handled events
	Lag        float64   `json:"lag_seconds"`
}

// Node is one maid process of the cluster.
type Node struct {
	ID          string    `json:"id"`
	Addr        string    `json:"addr"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	Draining    bool      `json:"draining"`
	Live        bool      `json:"live"` // heartbeat within the node TTL, by the database's clock
	Left        bool      `json:"left"`
}

// EventKey is the ledger key of a dispatch.
func EventKey(shard int, sessionID string, seq int64) string {
	return fmt.Sprintf("%d/%s/%d", shard, sessionID, seq)
}

// Store is what the cluster keeps in PostgreSQL. Every method that writes
// for a shard takes the Lease it holds and fails with ErrFenced, writing
// nothing, when the row's node or generation differ or the lease expired.
type Store interface {
	// JoinNode registers (or re-registers) a node.
	JoinNode(ctx context.Context, id, addr string) error
	// Heartbeat renews a node's liveness and reports whether it was asked
	// to drain.
	Heartbeat(ctx context.Context, id string) (draining bool, err error)
	// LeaveNode marks a node gone (its leases must be released first).
	LeaveNode(ctx context.Context, id string) error
	// SetDraining asks a node to hand its shards over and exit.
	SetDraining(ctx context.Context, id string) error
	// Nodes lists nodes that have not left; live is judged with nodeTTL.
	Nodes(ctx context.Context, nodeTTL time.Duration) ([]Node, error)

	// EnsureShards creates the lease rows of shards [0, count); a
	// different count already in the table is an error.
	EnsureShards(ctx context.Context, count int) error
	// Leases lists every shard's lease.
	Leases(ctx context.Context) ([]Lease, error)
	// Acquire takes a free or expired shard for node for ttl, with the
	// next generation; ok is false when another node holds it.
	Acquire(ctx context.Context, shard int, node string, ttl time.Duration) (l Lease, ok bool, err error)
	// Renew extends the leases node holds with the given generations by
	// ttl and returns the shards renewed; the others are lost.
	Renew(ctx context.Context, node string, held map[int]int64, ttl time.Duration) (renewed map[int]bool, err error)
	// Release frees a lease, saving the session the next owner resumes.
	Release(ctx context.Context, l Lease, s Session) error
	// Checkpoint saves the session (every dispatch up to s.Seq handled)
	// and marks those events done.
	Checkpoint(ctx context.Context, l Lease, s Session) error
	// Claim records that the event (shard, session, seq) is being
	// delivered under l. deliver is false for an event already done, or
	// claimed by this generation (a replay).
	Claim(ctx context.Context, l Lease, sessionID string, seq int64) (deliver bool, err error)
	// TakeIdentify takes the identify slot of a max_concurrency bucket:
	// wait > 0 means the slot is taken; come back after wait. dailyLimit
	// bounds session starts per UTC day across the cluster (ErrBudget).
	TakeIdentify(ctx context.Context, bucket int, spacing time.Duration, dailyLimit int) (wait time.Duration, err error)
	// IdentifySent restarts the bucket's spacing from now: the IDENTIFY
	// of the slot taken was sent (a slot is taken with a margin).
	IdentifySent(ctx context.Context, bucket int, spacing time.Duration) error
	// Notify wakes other nodes' loops (a hand-over is waiting).
	Notify(ctx context.Context) error
	// Listen calls wake on notifications of the cluster and plugin
	// channels until ctx ends.
	Listen(ctx context.Context, wake func(topic string)) error
	// Prune drops ledger rows older than age.
	Prune(ctx context.Context, age time.Duration) error
}

// PluginChange is a plugin installed, replaced or removed on some node.
type PluginChange struct {
	PluginID string
	Version  int64 // grows with every change, cluster-wide
	Removed  bool
}
