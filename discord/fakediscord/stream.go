package fakediscord

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"time"
)

// ShardStats is what the gateway did on one shard.
type ShardStats struct {
	Dispatched int64 `json:"dispatched"` // dispatches of every type, replays not counted
	Messages   int64 `json:"message_create"`
	Identifies int64 `json:"identifies"`
	Resumes    int64 `json:"resumes"`
	Connected  bool  `json:"connected"`
}

// Stats is GET /stats.
type Stats struct {
	Shards         map[string]*ShardStats `json:"shards"`
	StreamMessages int                    `json:"stream_messages"` // MESSAGE_CREATE the current stream dispatched
	StreamTotal    int                    `json:"stream_total"`    // ... every stream since the start
	StreamDone     bool                   `json:"stream_done"`
	// Displaced counts RESUMEs that found their session still connected
	// on another connection (closed then): a node handing a shard over
	// must have closed it first.
	Displaced          int            `json:"displaced"`
	Identifies         int            `json:"identifies"`
	Resumes            int            `json:"resumes"`
	IdentifyViolations int            `json:"identify_violations"` // identifies refused for breaking the limits
	SessionStartsLeft  int            `json:"session_starts_left"`
	REST               map[string]int `json:"rest"` // by "METHOD /route" (ids as {id})
}

// Listen starts a fake Discord on addr (host:port; port 0 picks one).
func Listen(addr string, guilds ...Guild) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fakediscord: listen %s: %w", addr, err)
	}
	s := New(guilds...)
	// New started on a random port: move to the listener asked for.
	s.srv.Close()
	s.srv = httptest.NewUnstartedServer(s.mux())
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	s.URL = s.srv.URL + "/"
	return s, nil
}

// StreamGuilds returns n guilds spread over shards (guild i on shard
// i % shards), each with one channel and one member.
func StreamGuilds(n, shards int) []Guild {
	out := make([]Guild, n)
	for i := range out {
		// A snowflake's shard is (id >> 22) % shards.
		id := strconv.FormatUint(uint64(shards*1000+i)<<22|uint64(i), 10)
		out[i] = Guild{
			ID: id, Name: fmt.Sprintf("guild %d", i),
			Channels: []Channel{{ID: strconv.Itoa(700000000 + i), Name: "general"}},
			Members:  []Member{{ID: strconv.Itoa(800000000 + i), Name: fmt.Sprintf("user%d", i)}},
		}
	}
	return out
}

// SetIdentifyLimits makes the gateway enforce Discord's identify limits:
// one IDENTIFY per bucket (shard % maxConcurrency) every spacing, and
// starts session starts in all (reported by GET /gateway/bot). An identify
// breaking them is closed with 4008 and counted in Stats.
func (s *Server) SetIdentifyLimits(spacing time.Duration, maxConcurrency, starts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identifySpacing, s.maxConcurrency, s.startsLeft = spacing, max(1, maxConcurrency), starts
}

// identifyLimitLocked checks an IDENTIFY against the limits: 0 to accept,
// else the close code.
func (s *Server) identifyLimitLocked(shard [2]int) int {
	if s.startsLeft <= 0 {
		s.violations++
		return 4008
	}
	bucket := shard[0] % s.maxConcurrency
	now := time.Now()
	if last, ok := s.lastIdentify[bucket]; ok && s.identifySpacing > 0 && now.Sub(last) < s.identifySpacing {
		s.violations++
		return 4008
	}
	s.lastIdentify[bucket] = now
	s.startsLeft--
	return 0
}

func (s *Server) stat(shard int) *ShardStats {
	st := s.shardStats[shard]
	if st == nil {
		st = &ShardStats{}
		s.shardStats[shard] = st
	}
	return st
}

// Stats returns GET /stats.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{Shards: map[string]*ShardStats{}, StreamMessages: s.streamRun, StreamTotal: len(s.streamIDs), Displaced: s.displaced, Identifies: len(s.idents),
		Resumes: s.resumes, IdentifyViolations: s.violations, SessionStartsLeft: s.startsLeft, REST: map[string]int{}}
	if s.streamDone != nil {
		select {
		case <-s.streamDone:
			out.StreamDone = true
		default:
		}
	}
	for id, st := range s.shardStats {
		c := *st
		ss := s.sessions[id]
		c.Connected = ss != nil && ss.conn != nil && !ss.invalid
		out.Shards[strconv.Itoa(id)] = &c
	}
	for _, r := range s.reqs {
		out.REST[r.Method+" "+route(r.Path)]++
	}
	return out
}

// route replaces the ids of a REST path with {id}.
func route(path string) string {
	b := []byte{}
	seg := ""
	flush := func() {
		if seg == "" {
			return
		}
		if _, err := strconv.ParseUint(seg, 10, 64); err == nil {
			seg = "{id}"
		}
		b = append(b, seg...)
		seg = ""
	}
	for i := 0; i < len(path); i++ {
		if path[i] == '/' {
			flush()
			b = append(b, '/')
			continue
		}
		seg += string(path[i])
	}
	flush()
	return string(b)
}

func (s *Server) serveStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, 200, s.Stats())
}

// StreamIDs returns the ids of the messages the stream dispatched.
func (s *Server) StreamIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.streamIDs...)
}

// serveStream is GET /stream: the message ids the stream dispatched.
func (s *Server) serveStream(w http.ResponseWriter, _ *http.Request) {
	ids := s.StreamIDs()
	sort.Strings(ids)
	writeJSON(w, 200, map[string]any{"message_ids": ids})
}

// maxStream bounds the message ids kept for GET /stream.
const maxStream = 1 << 20

// StartStream dispatches MESSAGE_CREATE at rate per second, round robin
// over the guilds (a deterministic sequence: message n goes to guild n %
// guilds with content "message n"), limit messages in all (0: until
// StopStream). A guild whose shard has no session yet is skipped, so
// every message counted was dispatched (to a connected session, or queued
// in one for its resume).
func (s *Server) StartStream(rate float64, limit int) {
	if rate <= 0 {
		rate = 1
	}
	s.mu.Lock()
	if s.streamStop != nil {
		s.mu.Unlock()
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	s.streamStop, s.streamDone = stop, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		n := 0
		for limit <= 0 || n < limit {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if s.streamOne(n) {
				n++
			}
		}
	}()
}

// streamOne dispatches message n if its guild's shard has a session.
func (s *Server) streamOne(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.guilds) == 0 || len(s.streamIDs) >= maxStream {
		return false
	}
	// The n-th message goes to the next guild whose shard has a session.
	for k := 0; k < len(s.guilds); k++ {
		g := s.guilds[(n+k)%len(s.guilds)]
		var target *session
		for _, ss := range s.sessions {
			if !ss.invalid && ShardOf(g.ID, ss.shard[1]) == ss.shard[0] {
				target = ss
			}
		}
		if target == nil || len(g.Channels) == 0 || len(g.Members) == 0 {
			continue
		}
		id := s.id()
		author := g.Members[0]
		msg := map[string]any{
			"id": id, "type": 0, "channel_id": g.Channels[0].ID, "guild_id": g.ID, "content": fmt.Sprintf("message %d", n),
			"author":    s.userObject(author.ID, author.Name, false),
			"timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00"), "edited_timestamp": nil,
			"tts": false, "mention_everyone": false, "mentions": []any{}, "mention_roles": []any{},
			"attachments": []any{}, "embeds": []any{}, "pinned": false,
		}
		s.dispatchLocked(target, "MESSAGE_CREATE", msg)
		s.streamIDs = append(s.streamIDs, id)
		s.streamRun++
		return true
	}
	return false
}

// RestartStream stops the stream and starts a new one (StreamIDs keeps
// the ids of every stream).
func (s *Server) RestartStream(rate float64, limit int) {
	s.StopStream()
	s.mu.Lock()
	s.streamStop, s.streamDone, s.streamRun = nil, nil, 0
	s.mu.Unlock()
	s.StartStream(rate, limit)
}

// StopStream stops the stream and waits for it.
func (s *Server) StopStream() {
	s.mu.Lock()
	stop, done := s.streamStop, s.streamDone
	if stop != nil {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}
	s.mu.Unlock()
	if done != nil {
		<-done
	}
}

// MarshalStats is Stats as JSON (for the command's log).
func (s *Server) MarshalStats() []byte {
	b, _ := json.Marshal(s.Stats())
	return b
}
