// Package fakediscord is an in-process stand-in for Discord's REST API and
// websocket gateway, for tests that drive the real discordgo client: REST
// endpoints maid uses (messages, reactions, member roles, members, roles,
// channels, application commands, interaction callbacks, gateway/bot) with
// injectable 429s, and a gateway speaking HELLO, IDENTIFY, READY,
// heartbeats and ACKs, DISPATCH with sequence numbers, RECONNECT, RESUME
// (replaying missed dispatches) and INVALID_SESSION.
package fakediscord

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
)

// Guild is a fake server.
type Guild struct {
	ID, Name string
	Channels []Channel
	Roles    []Role
	Members  []Member
}

// Channel is a fake channel.
type Channel struct{ ID, Name string }

// Role is a fake role.
type Role struct{ ID, Name string }

// Member is a fake member.
type Member struct {
	ID, Name string
	Roles    []string
}

// Request is one REST request the fake received.
type Request struct {
	Method string
	Path   string // decoded, after /api/v9
	Body   []byte
	At     time.Time
	Status int
}

// Server is the fake Discord. Create it with New; Close it at the end.
type Server struct {
	// URL is the base to give Point (ends in "/").
	URL   string
	Token string // the bot token it accepts (without "Bot ")
	BotID string
	AppID string

	srv *httptest.Server

	mu        sync.Mutex
	heartbeat int // ms, in HELLO
	overlap   int64
	guilds    []*Guild
	channels  map[string]string // channel → guild
	members   map[string]map[string]*Member
	messages  map[string]map[string]map[string]any // channel → id → message
	reqs      []Request
	limits    []*rateLimit
	sessions  map[int]*session // latest session by shard
	nextID    uint64
	hb, acks  int
	idents    []Identify
	resumes   int
	refuse    int // close code for the next identify (0: accept)

	// IDENTIFY limits (SetIdentifyLimits) and what the stream sent.
	identifySpacing time.Duration
	maxConcurrency  int
	startsLeft      int
	lastIdentify    map[int]time.Time // by bucket
	violations      int
	displaced       int // resumes that found the session still connected elsewhere
	streamRun       int // messages of the current stream
	shardStats      map[int]*ShardStats
	streamIDs       []string // message ids the stream dispatched, in order
	streamDone      chan struct{}
	streamStop      chan struct{}
}

// Identify is what a client sent in IDENTIFY.
type Identify struct {
	Shard   [2]int
	Intents int
}

type rateLimit struct {
	method, prefix string
	times          int
	retryAfter     time.Duration
}

type session struct {
	id      string
	shard   [2]int
	seq     int64
	log     []frame // every dispatch of the session, for resume replay
	conn    *conn
	invalid bool
}

type frame struct {
	Op  int             `json:"op"`
	D   json.RawMessage `json:"d"`
	S   *int64          `json:"s,omitempty"`
	T   string          `json:"t,omitempty"`
	seq int64
}

type conn struct {
	ws  *websocket.Conn
	wmu sync.Mutex
}

func (c *conn) write(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteJSON(v)
}

// New starts a fake Discord with the given guilds.
func New(guilds ...Guild) *Server {
	s := &Server{
		Token: "fake-token", BotID: "900000000000000001", AppID: "900000000000000002",
		heartbeat: 41250, channels: map[string]string{}, members: map[string]map[string]*Member{},
		messages: map[string]map[string]map[string]any{}, sessions: map[int]*session{}, nextID: 1 << 40,
		maxConcurrency: 1, startsLeft: 1000, lastIdentify: map[int]time.Time{}, shardStats: map[int]*ShardStats{},
	}
	for i := range guilds {
		g := guilds[i]
		s.guilds = append(s.guilds, &g)
		s.members[g.ID] = map[string]*Member{}
		for j := range g.Members {
			m := g.Members[j]
			s.members[g.ID][m.ID] = &m
		}
		for _, c := range g.Channels {
			s.channels[c.ID] = g.ID
			s.messages[c.ID] = map[string]map[string]any{}
		}
	}
	s.srv = httptest.NewServer(s.mux())
	s.URL = s.srv.URL + "/"
	return s
}

func (s *Server) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/gateway-ws/", s.serveGateway)
	mux.HandleFunc("/api/v"+discordgo.APIVersion+"/", s.serveREST)
	mux.HandleFunc("GET /stats", s.serveStats)
	mux.HandleFunc("GET /stream", s.serveStream)
	return mux
}

// Close stops the server and drops every connection.
func (s *Server) Close() {
	s.StopStream()
	s.mu.Lock()
	for _, ss := range s.sessions {
		if ss.conn != nil {
			ss.conn.ws.Close()
		}
	}
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// SetHeartbeat sets the interval sent in HELLO.
func (s *Server) SetHeartbeat(d time.Duration) {
	s.mu.Lock()
	s.heartbeat = int(d / time.Millisecond)
	s.mu.Unlock()
}

// SetReplayOverlap makes RESUME also replay n dispatches the client
// already acknowledged (at-least-once delivery): clients must dedupe.
func (s *Server) SetReplayOverlap(n int) {
	s.mu.Lock()
	s.overlap = int64(n)
	s.mu.Unlock()
}

// RefuseNextIdentify closes the next IDENTIFY with code (e.g. 4014).
func (s *Server) RefuseNextIdentify(code int) {
	s.mu.Lock()
	s.refuse = code
	s.mu.Unlock()
}

// RateLimit answers the next n requests whose method matches and whose
// path (after /api/v9) starts with prefix with 429 and retry_after.
func (s *Server) RateLimit(method, prefix string, n int, retryAfter time.Duration) {
	s.mu.Lock()
	s.limits = append(s.limits, &rateLimit{method, prefix, n, retryAfter})
	s.mu.Unlock()
}

// Requests returns the REST requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Counts reports gateway activity: heartbeats received, ACKs sent,
// identifies and resumes.
func (s *Server) Counts() (heartbeats, acks, identifies, resumes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hb, s.acks, len(s.idents), s.resumes
}

// Identifies returns every IDENTIFY received.
func (s *Server) Identifies() []Identify {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Identify(nil), s.idents...)
}

// Connected reports whether shard has a live, identified connection.
func (s *Server) Connected(shard int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[shard]
	return ss != nil && ss.conn != nil && !ss.invalid
}

// AddChannel adds a channel of a guild the bot is not in (no gateway
// session gets that guild): only a REST lookup can tell where it belongs.
func (s *Server) AddChannel(channelID, guildID string) {
	s.mu.Lock()
	s.channels[channelID] = guildID
	s.messages[channelID] = map[string]map[string]any{}
	s.mu.Unlock()
}

// Message returns a stored message (nil if absent).
func (s *Server) Message(channelID, id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messages[channelID][id]
}

// MemberRoles returns a member's roles.
func (s *Server) MemberRoles(guildID, userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.members[guildID][userID]; m != nil {
		return append([]string(nil), m.Roles...)
	}
	return nil
}

func (s *Server) id() string {
	s.nextID++
	return strconv.FormatUint(s.nextID, 10)
}

// ShardOf is Discord's shard formula.
func ShardOf(guildID string, count int) int {
	n, _ := strconv.ParseUint(guildID, 10, 64)
	return int((n >> 22) % uint64(count))
}

// ---- gateway ----

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &conn{ws: ws}
	defer ws.Close()
	s.mu.Lock()
	hb := s.heartbeat
	s.mu.Unlock()
	if c.write(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": hb}}) != nil {
		return
	}
	var sess *session
	defer func() {
		s.mu.Lock()
		if sess != nil && sess.conn == c {
			sess.conn = nil
		}
		s.mu.Unlock()
	}()
	for {
		var in struct {
			Op int             `json:"op"`
			D  json.RawMessage `json:"d"`
		}
		if err := ws.ReadJSON(&in); err != nil {
			return
		}
		switch in.Op {
		case 1:
			s.mu.Lock()
			s.hb++
			s.acks++
			s.mu.Unlock()
			if c.write(map[string]any{"op": 11}) != nil {
				return
			}
		case 2:
			var id struct {
				Token   string  `json:"token"`
				Intents int     `json:"intents"`
				Shard   *[2]int `json:"shard"`
			}
			_ = json.Unmarshal(in.D, &id)
			shard := [2]int{0, 1}
			if id.Shard != nil {
				shard = *id.Shard
			}
			s.mu.Lock()
			refuse := s.refuse
			s.refuse = 0
			s.idents = append(s.idents, Identify{Shard: shard, Intents: id.Intents})
			if refuse == 0 {
				refuse = s.identifyLimitLocked(shard)
			}
			s.mu.Unlock()
			if strings.TrimPrefix(id.Token, "Bot ") != s.Token {
				refuse = 4004
			}
			if refuse != 0 {
				c.wmu.Lock()
				_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(refuse, "refused"))
				c.wmu.Unlock()
				return
			}
			sess = s.identify(c, shard)
		case 6:
			var rs struct {
				Token     string `json:"token"`
				SessionID string `json:"session_id"`
				Seq       int64  `json:"seq"`
			}
			_ = json.Unmarshal(in.D, &rs)
			if sess = s.resume(c, rs.SessionID, rs.Seq); sess == nil {
				if c.write(map[string]any{"op": 9, "d": false}) != nil {
					return
				}
			}
		}
	}
}

// identify starts a new session for shard on c: READY, then GUILD_CREATE
// for each of the shard's guilds.
func (s *Server) identify(c *conn, shard [2]int) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.sessions[shard[0]]; old != nil {
		old.invalid = true
	}
	ss := &session{id: "session-" + s.id(), shard: shard, conn: c}
	s.sessions[shard[0]] = ss
	s.stat(shard[0]).Identifies++
	var unavailable []any
	var mine []*Guild
	for _, g := range s.guilds {
		if ShardOf(g.ID, shard[1]) == shard[0] {
			mine = append(mine, g)
			unavailable = append(unavailable, map[string]any{"id": g.ID, "unavailable": true})
		}
	}
	if unavailable == nil {
		unavailable = []any{}
	}
	s.dispatchLocked(ss, "READY", map[string]any{
		"v": 10, "session_id": ss.id, "resume_gateway_url": s.gatewayURL(),
		"user":   map[string]any{"id": s.BotID, "username": "maid", "discriminator": "0", "bot": true},
		"guilds": unavailable, "shard": shard,
		"application": map[string]any{"id": s.AppID, "flags": 0},
	})
	for _, g := range mine {
		s.dispatchLocked(ss, "GUILD_CREATE", s.guildObject(g))
	}
	return ss
}

// resume replays the session's dispatches after seq (minus the overlap)
// and ends with RESUMED; nil means the session cannot be resumed.
func (s *Server) resume(c *conn, id string, seq int64) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ss *session
	for _, x := range s.sessions {
		if x.id == id && !x.invalid {
			ss = x
		}
	}
	if ss == nil {
		return nil
	}
	s.resumes++
	s.stat(ss.shard[0]).Resumes++
	if old := ss.conn; old != nil && old != c {
		old.ws.Close() // the session moved to this connection
		s.displaced++
	}
	ss.conn = c
	from := seq - s.overlap
	for _, f := range ss.log {
		if f.seq > from {
			if c.write(f) != nil {
				return ss
			}
		}
	}
	s.dispatchLocked(ss, "RESUMED", map[string]any{})
	return ss
}

func (s *Server) gatewayURL() string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/gateway-ws"
}

// dispatchLocked records a dispatch in the session and sends it if the
// session is connected; call with mu held.
func (s *Server) dispatchLocked(ss *session, typ string, data any) int64 {
	raw, _ := json.Marshal(data)
	ss.seq++
	seq := ss.seq
	f := frame{Op: 0, D: raw, S: &seq, T: typ, seq: seq}
	ss.log = append(ss.log, f)
	st := s.stat(ss.shard[0])
	st.Dispatched++
	if typ == "MESSAGE_CREATE" {
		st.Messages++
	}
	if ss.conn != nil {
		_ = ss.conn.write(f) // a dead connection: the client resumes and gets it again
	}
	return seq
}

// Dispatch sends an event of a guild to the shard that owns it (queued in
// the session while the client is disconnected, replayed on resume). It
// returns the dispatch's sequence number, or -1 if no session has the
// guild's shard.
func (s *Server) Dispatch(guildID, typ string, data any) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		if !ss.invalid && ShardOf(guildID, ss.shard[1]) == ss.shard[0] {
			return s.dispatchLocked(ss, typ, data)
		}
	}
	return -1
}

// Drop cuts shard's connection without a close frame, as a network
// failure would; the session stays resumable.
func (s *Server) Drop(shard int) {
	s.mu.Lock()
	ss := s.sessions[shard]
	var c *conn
	if ss != nil {
		c, ss.conn = ss.conn, nil
	}
	s.mu.Unlock()
	if c != nil {
		c.ws.UnderlyingConn().Close()
	}
}

// Reconnect sends op 7 RECONNECT to shard.
func (s *Server) Reconnect(shard int) {
	s.send(shard, map[string]any{"op": 7, "d": nil})
}

// InvalidateSession sends op 9 INVALID_SESSION (not resumable) to shard;
// the client must identify again.
func (s *Server) InvalidateSession(shard int) {
	s.mu.Lock()
	ss := s.sessions[shard]
	var c *conn
	if ss != nil {
		ss.invalid = true
		c = ss.conn
	}
	s.mu.Unlock()
	if c != nil {
		_ = c.write(map[string]any{"op": 9, "d": false})
	}
}

func (s *Server) send(shard int, v any) {
	s.mu.Lock()
	ss := s.sessions[shard]
	var c *conn
	if ss != nil {
		c = ss.conn
	}
	s.mu.Unlock()
	if c != nil {
		_ = c.write(v)
	}
}

// ---- payloads ----

func (s *Server) userObject(id, name string, bot bool) map[string]any {
	return map[string]any{"id": id, "username": name, "global_name": name, "discriminator": "0", "avatar": nil, "bot": bot}
}

func (s *Server) memberName(guildID, userID string) string {
	if m := s.members[guildID][userID]; m != nil {
		return m.Name
	}
	return "user" + userID
}

func (s *Server) memberObject(guildID string, m *Member) map[string]any {
	return map[string]any{
		"user": s.userObject(m.ID, m.Name, false), "roles": append([]string{}, m.Roles...),
		"joined_at": "2024-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0, "nick": nil,
	}
}

func (s *Server) guildObject(g *Guild) map[string]any {
	chans := []any{}
	for i, c := range g.Channels {
		chans = append(chans, map[string]any{"id": c.ID, "name": c.Name, "type": 0, "guild_id": g.ID, "position": i})
	}
	roles := []any{map[string]any{"id": g.ID, "name": "@everyone", "color": 0, "position": 0, "permissions": "0"}}
	for i, r := range g.Roles {
		roles = append(roles, map[string]any{"id": r.ID, "name": r.Name, "color": 0, "position": i + 1, "permissions": "0"})
	}
	members := []any{}
	for _, m := range g.Members {
		members = append(members, s.memberObject(g.ID, s.members[g.ID][m.ID]))
	}
	return map[string]any{
		"id": g.ID, "name": g.Name, "icon": nil, "owner_id": "1", "unavailable": false, "large": false,
		"member_count": len(g.Members), "channels": chans, "roles": roles, "members": members,
		"joined_at": "2024-01-01T00:00:00.000000+00:00",
	}
}

// UserMessage stores a message from a member and dispatches MESSAGE_CREATE
// for it; it returns the message id and the dispatch's sequence number.
func (s *Server) UserMessage(channelID, userID, content string) (string, int64) {
	s.mu.Lock()
	gid := s.channels[channelID]
	id := s.id()
	msg := map[string]any{
		"id": id, "type": 0, "channel_id": channelID, "guild_id": gid, "content": content,
		"author":    s.userObject(userID, s.memberName(gid, userID), false),
		"timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00"), "edited_timestamp": nil,
		"tts": false, "mention_everyone": false, "mentions": []any{}, "mention_roles": []any{},
		"attachments": []any{}, "embeds": []any{}, "pinned": false,
	}
	s.messages[channelID][id] = msg
	s.mu.Unlock()
	return id, s.Dispatch(gid, "MESSAGE_CREATE", msg)
}

// Interaction dispatches INTERACTION_CREATE for a slash command; it returns
// the interaction id (its token is "token-" + id).
func (s *Server) Interaction(guildID, channelID, userID, command string) string {
	s.mu.Lock()
	id := s.id()
	m := s.members[guildID][userID]
	if m == nil {
		m = &Member{ID: userID, Name: "user" + userID}
	}
	payload := map[string]any{
		"id": id, "application_id": s.AppID, "type": 2, "token": "token-" + id, "version": 1,
		"guild_id": guildID, "channel_id": channelID, "member": s.memberObject(guildID, m),
		"data": map[string]any{"id": s.id(), "name": command, "type": 1},
	}
	s.mu.Unlock()
	s.Dispatch(guildID, "INTERACTION_CREATE", payload)
	return id
}

// ---- REST ----

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter, what string, code int) {
	writeJSON(w, http.StatusNotFound, map[string]any{"message": "Unknown " + what, "code": code})
}

func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/api/v"+discordgo.APIVersion)
	body, _ := io.ReadAll(r.Body)
	rec := &recorder{ResponseWriter: w, status: 200}
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: path, Body: body, At: time.Now()})
	idx := len(s.reqs) - 1
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.reqs[idx].Status = rec.status
		s.mu.Unlock()
	}()
	if s.limited(rec, r.Method, path) {
		return
	}
	seg := strings.Split(strings.Trim(path, "/"), "/")
	public := seg[0] == "interactions" || seg[0] == "webhooks"
	if !public && r.Header.Get("Authorization") != "Bot "+s.Token {
		writeJSON(rec, http.StatusUnauthorized, map[string]any{"message": "401: Unauthorized", "code": 0})
		return
	}
	s.route(rec, r.Method, seg, body)
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// limited answers 429 for a matching injected rate limit.
func (s *Server) limited(w http.ResponseWriter, method, path string) bool {
	s.mu.Lock()
	var hit *rateLimit
	for _, l := range s.limits {
		if l.times > 0 && l.method == method && strings.HasPrefix(path, l.prefix) {
			l.times--
			hit = l
			break
		}
	}
	s.mu.Unlock()
	if hit == nil {
		return false
	}
	secs := hit.retryAfter.Seconds()
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(secs))))
	w.Header().Set("X-RateLimit-Limit", "5")
	w.Header().Set("X-RateLimit-Remaining", "0")
	w.Header().Set("X-RateLimit-Reset-After", strconv.FormatFloat(secs, 'f', 3, 64))
	w.Header().Set("X-RateLimit-Scope", "user")
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": "You are being rate limited.", "retry_after": secs, "global": false})
	return true
}

func (s *Server) route(w http.ResponseWriter, method string, seg []string, body []byte) {
	n := len(seg)
	at := func(i int) string {
		if i < n {
			return seg[i]
		}
		return ""
	}
	switch {
	case method == "GET" && at(0) == "gateway" && n == 1:
		writeJSON(w, 200, map[string]any{"url": s.gatewayURL()})
	case method == "GET" && at(0) == "gateway" && at(1) == "bot":
		s.mu.Lock()
		left, conc := s.startsLeft, s.maxConcurrency
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{"url": s.gatewayURL(), "shards": 1,
			"session_start_limit": map[string]any{"total": left, "remaining": left, "reset_after": 0, "max_concurrency": conc}})
	case at(0) == "channels" && n == 2 && method == "GET":
		s.mu.Lock()
		gid, ok := s.channels[at(1)]
		s.mu.Unlock()
		if !ok {
			notFound(w, "Channel", 10003)
			return
		}
		writeJSON(w, 200, map[string]any{"id": at(1), "guild_id": gid, "type": 0, "name": "channel"})
	case at(0) == "channels" && at(2) == "messages":
		s.routeMessages(w, method, seg, body)
	case at(0) == "guilds" && at(2) == "members" && at(4) == "roles" && n == 6:
		s.mu.Lock()
		defer s.mu.Unlock()
		m := s.members[at(1)][at(3)]
		if m == nil {
			notFound(w, "Member", 10007)
			return
		}
		role := at(5)
		switch method {
		case "PUT":
			if !contains(m.Roles, role) {
				m.Roles = append(m.Roles, role)
			}
		case "DELETE":
			out := m.Roles[:0]
			for _, r := range m.Roles {
				if r != role {
					out = append(out, r)
				}
			}
			m.Roles = out
		}
		w.WriteHeader(http.StatusNoContent)
	case at(0) == "guilds" && at(2) == "members" && n == 4 && method == "GET":
		s.mu.Lock()
		defer s.mu.Unlock()
		m := s.members[at(1)][at(3)]
		if m == nil {
			notFound(w, "Member", 10007)
			return
		}
		writeJSON(w, 200, s.memberObject(at(1), m))
	case at(0) == "guilds" && at(2) == "members" && n == 3 && method == "GET":
		s.mu.Lock()
		defer s.mu.Unlock()
		out := []any{}
		for _, m := range s.members[at(1)] {
			out = append(out, s.memberObject(at(1), m))
		}
		writeJSON(w, 200, out)
	case at(0) == "guilds" && (at(2) == "roles" || at(2) == "channels") && n == 3 && method == "GET":
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, g := range s.guilds {
			if g.ID == at(1) {
				writeJSON(w, 200, s.guildObject(g)[at(2)])
				return
			}
		}
		notFound(w, "Guild", 10004)
	case at(0) == "applications" && at(1) == s.AppID && method == "PUT" && (at(2) == "commands" || at(4) == "commands"):
		var cmds []map[string]any
		if err := json.Unmarshal(body, &cmds); err != nil {
			writeJSON(w, 400, map[string]any{"message": "Invalid Form Body", "code": 50035})
			return
		}
		s.mu.Lock()
		for _, c := range cmds {
			c["id"] = s.id()
			c["application_id"] = s.AppID
			c["version"] = "1"
		}
		s.mu.Unlock()
		writeJSON(w, 200, cmds)
	case at(0) == "interactions" && at(3) == "callback" && method == "POST":
		if at(2) != "token-"+at(1) {
			writeJSON(w, 401, map[string]any{"message": "Invalid interaction token", "code": 50027})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case at(0) == "webhooks" && at(1) == s.AppID && at(3) == "messages" && method == "PATCH":
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		m["id"] = "0"
		writeJSON(w, 200, m)
	default:
		writeJSON(w, 404, map[string]any{"message": "404: Not Found", "code": 0})
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Server) routeMessages(w http.ResponseWriter, method string, seg []string, body []byte) {
	ch := seg[1]
	s.mu.Lock()
	defer s.mu.Unlock()
	gid, ok := s.channels[ch]
	if !ok {
		notFound(w, "Channel", 10003)
		return
	}
	msgs := s.messages[ch]
	if len(seg) == 3 && method == "POST" {
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil {
			writeJSON(w, 400, map[string]any{"message": "Invalid Form Body", "code": 50035})
			return
		}
		if in["content"] == nil && in["embeds"] == nil {
			writeJSON(w, 400, map[string]any{"message": "Cannot send an empty message", "code": 50006})
			return
		}
		id := s.id()
		msg := map[string]any{
			"id": id, "type": 0, "channel_id": ch, "guild_id": gid, "content": in["content"], "embeds": in["embeds"],
			"author":    s.userObject(s.BotID, "maid", true),
			"timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00"),
		}
		if ref, ok := in["message_reference"]; ok {
			msg["message_reference"] = ref
			msg["type"] = 19
		}
		msgs[id] = msg
		writeJSON(w, 200, msg)
		return
	}
	if len(seg) < 4 {
		writeJSON(w, 405, map[string]any{"message": "405: Method Not Allowed", "code": 0})
		return
	}
	msg := msgs[seg[3]]
	if msg == nil {
		notFound(w, "Message", 10008)
		return
	}
	switch {
	case len(seg) == 4 && method == "GET":
		writeJSON(w, 200, msg)
	case len(seg) == 4 && method == "PATCH":
		if author, _ := msg["author"].(map[string]any); author["id"] != s.BotID {
			writeJSON(w, 403, map[string]any{"message": "Cannot edit a message authored by another user", "code": 50005})
			return
		}
		var in map[string]any
		_ = json.Unmarshal(body, &in)
		msg["content"] = in["content"]
		writeJSON(w, 200, msg)
	case len(seg) == 4 && method == "DELETE":
		delete(msgs, seg[3])
		w.WriteHeader(http.StatusNoContent)
	case len(seg) == 7 && seg[4] == "reactions" && seg[6] == "@me" && (method == "PUT" || method == "DELETE"):
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, 405, map[string]any{"message": fmt.Sprintf("405: %s not allowed", method), "code": 0})
	}
}
