package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maidhq/maid/rpc"
)

// A Recording is what one event did in a plugin, enough to run it again
// offline (`maid replay --exact`): the call as sent (without its token),
// every host call the plugin made with the host's answer, the clock reads
// and random bytes the guest took from the host (wasm: all of them), and
// the outcome (the handler's traceback when it raised). Every host call's
// answer is already a JSON-RPC result or error: they are kept as sent.
//
// Recordings hold the server's data (KV values, SQL rows, member objects),
// so they are served only to that server's managers and the admins
// (docs/security.md).
type Recording struct {
	Format        int             `json:"maid_recording"` // RecordingFormat
	ID            string          `json:"id"`
	PluginID      string          `json:"plugin_id"`
	PluginVersion string          `json:"plugin_version,omitempty"`
	Backend       string          `json:"backend"`
	ServerID      string          `json:"discord_srv_id"`
	Time          time.Time       `json:"time"`
	Method        string          `json:"method"` // plugin.event, plugin.dashboard, plugin.command
	Params        json.RawMessage `json:"params"` // as sent, without "call"
	HostCalls     []RecordedCall  `json:"host_calls"`
	Entropy       []EntropyRead   `json:"entropy,omitempty"`
	Outcome       RecordedOutcome `json:"outcome"`
	// Truncated: the recording reached its bounds (MaxRecordingBytes,
	// MaxRecordedCalls); what came after is not in it, and a replay can
	// only follow the plugin up to there.
	Truncated bool `json:"truncated,omitempty"`
}

// RecordingFormat is the version of the Recording JSON.
const RecordingFormat = 1

// RecordedCall is one plugin→host call and the host's answer.
type RecordedCall struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"` // without "call"
	Result json.RawMessage `json:"result,omitempty"`
	Error  *rpc.Error      `json:"error,omitempty"`
}

// EntropyRead is one clock read or random read of the guest: Kind "wall"
// (unix nanoseconds), "mono" (nanoseconds) or "rand" (Bytes).
type EntropyRead struct {
	Kind  string `json:"k"`
	Value int64  `json:"v,omitempty"`
	Bytes []byte `json:"b,omitempty"`
}

// RecordedOutcome is the plugin's answer: a result or an error (for a
// handler that raised: code -32004, data {"exception", "traceback"}).
type RecordedOutcome struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *rpc.Error      `json:"error,omitempty"`
}

// RecordingInfo describes a stored recording (without its body).
type RecordingInfo struct {
	ID       string    `json:"id"`
	PluginID string    `json:"plugin_id"`
	ServerID string    `json:"discord_srv_id"`
	Time     time.Time `json:"time"`
	What     string    `json:"what"` // "event message_create"
	Failed   bool      `json:"failed"`
	Bytes    int       `json:"bytes"`
}

// RecordingStore keeps recordings, bounded per (plugin, server). A Store
// that also implements it gets failed events recorded; the engine works
// without one (nothing is kept).
type RecordingStore interface {
	// PutRecording stores body (a Recording's JSON) and then drops the
	// oldest recordings of its (plugin, server) beyond keep.
	PutRecording(ctx context.Context, info RecordingInfo, body []byte, keep int) error
	// GetRecording returns a recording of (pluginID, serverID), or
	// ErrNotFound.
	GetRecording(ctx context.Context, pluginID, serverID, id string) (RecordingInfo, []byte, error)
	// ListRecordings returns the recordings of (pluginID, serverID), newest first.
	ListRecordings(ctx context.Context, pluginID, serverID string) ([]RecordingInfo, error)
	// SetRecordAll turns recording of every event on or off for
	// (pluginID, serverID); RecordAll reads it (false when never set).
	SetRecordAll(ctx context.Context, pluginID, serverID string, on bool) error
	RecordAll(ctx context.Context, pluginID, serverID string) (bool, error)
}

// recorder collects one call's recording while it runs, within bounds:
// once it has MaxRecordedCalls host calls, MaxRecordedEntropy reads or
// MaxRecordingBytes of data, it stops adding and marks itself truncated.
type recorder struct {
	mu        sync.Mutex
	rec       Recording
	params    map[string]any // the call's params, encoded by finish
	bytes     int
	maxBytes  int
	truncated bool
}

// Bounds of one recording, and how many are kept per (plugin, server).
const (
	MaxRecordingBytes  = 1 << 20
	MaxRecordedCalls   = 1000
	MaxRecordedEntropy = 10_000
	RecordingsKept     = 20
)

func newRecorder(r Recording) *recorder {
	r.Format = RecordingFormat
	r.HostCalls = []RecordedCall{}
	return &recorder{rec: r, bytes: len(r.Params), maxBytes: MaxRecordingBytes}
}

// newCallRecorderFor records a call whose params are encoded only if the
// recording is kept (finish): most recordings of events are dropped.
func newCallRecorderFor(r Recording, params map[string]any) *recorder {
	rec := newRecorder(r)
	rec.params = params
	return rec
}

// room takes n bytes of the budget, or reports there is none.
func (r *recorder) room(n int) bool {
	if r.truncated || r.bytes+n > r.maxBytes {
		r.truncated = true
		return false
	}
	r.bytes += n
	return true
}

// hostCall records one plugin→host call and its answer.
//
// The recording's room and call count are checked before the answer is
// encoded, and the encoding stops at the room left, without HTML escaping
// (rpc.MarshalBounded): json.Marshal of every answer first turned each
// 975 KB answer of '<' into a 5.85 MB buffer, even with the recording full,
// a second path around the bound on host call answers (attack Q1).
func (r *recorder) hostCall(method string, params json.RawMessage, res any, err error) {
	size := len(method) + len(params) + 64
	r.mu.Lock()
	left := r.maxBytes - r.bytes - size
	if r.truncated || len(r.rec.HostCalls) >= MaxRecordedCalls || left < 0 {
		r.truncated = true
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	// Params are kept as received (their call token is removed by finish,
	// only for a recording that is kept).
	c := RecordedCall{Method: method, Params: append(json.RawMessage(nil), params...)}
	if err != nil {
		var re *rpc.Error
		if errors.As(err, &re) {
			c.Error = re
		} else {
			c.Error = &rpc.Error{Code: rpc.CodeOf(err), Message: err.Error()}
		}
		size += len(c.Error.Message) + len(c.Error.Data)
	} else if raw, merr := rpc.MarshalBounded(res, left); merr == nil {
		c.Result = raw
		size += len(raw)
	} else if errors.Is(merr, rpc.ErrLimit) {
		r.mu.Lock()
		r.truncated = true
		r.mu.Unlock()
		return
	} else {
		c.Error = &rpc.Error{Code: rpc.CodeOf(rpc.ErrInternal), Message: "result not recordable: " + merr.Error()}
		size += len(c.Error.Message)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Checked again: calls served concurrently share the room.
	if len(r.rec.HostCalls) >= MaxRecordedCalls || !r.room(size) {
		r.truncated = true
		return
	}
	r.rec.HostCalls = append(r.rec.HostCalls, c)
}

func (r *recorder) entropy(e EntropyRead) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rec.Entropy) >= MaxRecordedEntropy || !r.room(len(e.Bytes)*4/3+24) {
		return
	}
	r.rec.Entropy = append(r.rec.Entropy, e)
}

// finish records the outcome and returns the recording.
func (r *recorder) finish(result json.RawMessage, err error) Recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		var re *rpc.Error
		if errors.As(err, &re) {
			r.rec.Outcome.Error = re
		} else {
			r.rec.Outcome.Error = &rpc.Error{Code: rpc.CodeOf(err), Message: err.Error()}
		}
	} else {
		r.rec.Outcome.Result = result
	}
	if r.params != nil {
		p := make(map[string]any, len(r.params))
		for k, v := range r.params {
			if k != "call" {
				p[k] = v
			}
		}
		r.rec.Params, _ = json.Marshal(p)
	}
	for i := range r.rec.HostCalls {
		r.rec.HostCalls[i].Params = withoutCall(r.rec.HostCalls[i].Params)
	}
	r.rec.Truncated = r.truncated
	return r.rec
}

// withoutCall is params with its "call" token removed (tokens are random
// per call, so a replay's differ).
func withoutCall(params json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(params, &m) != nil {
		return params
	}
	delete(m, "call")
	out, err := json.Marshal(m)
	if err != nil {
		return params
	}
	return out
}

// entropyTap is an instance's sandbox.Entropy: the host's clock and
// randomness, with every read also added to the recording of the event in
// progress, if any.
type entropyTap struct {
	cur atomic.Pointer[recorder]
}

// origin anchors the monotonic clock given to guests.
var origin = time.Now()

func (t *entropyTap) Walltime() (int64, int32) {
	now := time.Now()
	if r := t.cur.Load(); r != nil {
		r.entropy(EntropyRead{Kind: "wall", Value: now.UnixNano()})
	}
	return now.Unix(), int32(now.Nanosecond())
}

func (t *entropyTap) Nanotime() int64 {
	n := int64(time.Since(origin))
	if r := t.cur.Load(); r != nil {
		r.entropy(EntropyRead{Kind: "mono", Value: n})
	}
	return n
}

func (t *entropyTap) Read(p []byte) (int, error) {
	n, err := rand.Read(p)
	if r := t.cur.Load(); r != nil && err == nil {
		r.entropy(EntropyRead{Kind: "rand", Bytes: append([]byte(nil), p...)})
	}
	return n, err
}

// recordingsOf returns the store's RecordingStore side, or nil.
func (d *deps) recordings() RecordingStore {
	rs, _ := d.store.(RecordingStore)
	return rs
}

// recordAllCache remembers, for a few seconds, whether an operator turned
// recording of every event on for a (plugin, server): asked once per event.
type recordAllCache struct {
	mu sync.Mutex
	m  map[Scope]recordAllEntry
}

type recordAllEntry struct {
	on      bool
	expires time.Time
}

func (d *deps) recordAll(ctx context.Context, pluginID, serverID string) bool {
	rs := d.recordings()
	if rs == nil {
		return false
	}
	k := Scope{PluginID: pluginID, ServerID: serverID}
	now := d.now()
	c := &d.recAll
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.on
	}
	on, err := rs.RecordAll(ctx, pluginID, serverID)
	if err != nil {
		on = false
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 10_000 {
		c.m = map[Scope]recordAllEntry{} // bounded: a cache, not a registry
	}
	c.m[k] = recordAllEntry{on: on, expires: now.Add(d.limits.SettingsTTL)}
	c.mu.Unlock()
	return on
}

// SetRecordAll turns recording of every event of a plugin on one server on
// or off (an operator's choice; failed events are always recorded).
func (e *Engine) SetRecordAll(ctx context.Context, pluginID, serverID string, on bool) error {
	if err := checkServerID(serverID); err != nil {
		return err
	}
	rs := e.recordings()
	if rs == nil {
		return ErrUnavailable
	}
	if err := rs.SetRecordAll(ctx, pluginID, serverID, on); err != nil {
		return err
	}
	e.recAll.mu.Lock()
	delete(e.recAll.m, Scope{PluginID: pluginID, ServerID: serverID})
	e.recAll.mu.Unlock()
	return nil
}

// Recording returns a stored recording of a plugin on a server, as JSON.
func (e *Engine) Recording(ctx context.Context, pluginID, serverID, id string) (RecordingInfo, []byte, error) {
	rs := e.recordings()
	if rs == nil {
		return RecordingInfo{}, nil, ErrNotFound
	}
	return rs.GetRecording(ctx, pluginID, serverID, id)
}

// Recordings lists the stored recordings of a plugin on a server.
func (e *Engine) Recordings(ctx context.Context, pluginID, serverID string) ([]RecordingInfo, error) {
	rs := e.recordings()
	if rs == nil {
		return nil, nil
	}
	return rs.ListRecordings(ctx, pluginID, serverID)
}

// encodeRecording is rec's JSON as stored, without HTML escaping, as the
// recorder's bounds count it: encoding/json would store each '<' of a kept
// recording as six bytes.
func encodeRecording(rec Recording) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// keepRecording stores a finished recording; it returns its id, or "" if
// none was kept.
func (s *supervisor) keepRecording(ctx context.Context, rec Recording, failed bool) string {
	rs := s.d.recordings()
	if rs == nil {
		return ""
	}
	body, err := encodeRecording(rec)
	if err != nil {
		return ""
	}
	what := rec.Method
	var p struct {
		Type, Handler, Command string
	}
	_ = json.Unmarshal(rec.Params, &p)
	switch {
	case p.Type != "":
		what = "event " + p.Type
	case p.Handler != "":
		what = "dashboard " + p.Handler
	case p.Command != "":
		what = "command " + p.Command
	}
	info := RecordingInfo{ID: rec.ID, PluginID: rec.PluginID, ServerID: rec.ServerID, Time: rec.Time, What: what, Failed: failed, Bytes: len(body)}
	if err := rs.PutRecording(context.WithoutCancel(ctx), info, body, RecordingsKept); err != nil {
		s.d.log.Warn("keep recording", "plugin", s.id, "err", err)
		return ""
	}
	return rec.ID
}

type recordingSinkKey struct{}

// WithRecording returns a context under which a dashboard or command call
// (CallDashboard, CallCommand) is recorded, and its recording handed to
// sink when it ends, failed or not (`maid call --record`).
func WithRecording(ctx context.Context, sink func(Recording)) context.Context {
	return context.WithValue(ctx, recordingSinkKey{}, sink)
}

func recordingSink(ctx context.Context) func(Recording) {
	f, _ := ctx.Value(recordingSinkKey{}).(func(Recording))
	return f
}
