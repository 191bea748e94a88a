package engine

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// LogLine is one captured plugin log line.
type LogLine struct {
	Time   time.Time `json:"time"`
	Level  string    `json:"level"`  // "info", "warning", "error"
	Source string    `json:"source"` // "stderr" (plugin output), "sdk" (ctx.log), "host"
	Text   string    `json:"text"`
	// Repeats counts further host lines of the same shape (same level,
	// same text but for numbers and quoted values) folded into this one
	// since Time; Last is the latest. Text then ends with a note of both.
	Repeats int       `json:"repeats,omitempty"`
	Last    time.Time `json:"last,omitzero"`
	// Server is the server the line is about (the call, event or host
	// call it came from); "" for the plugin's own output and instance
	// lines, which only admins see.
	Server string `json:"server,omitempty"`
	// Recording names the recording of the failed call this line reports
	// (Engine.Recording), if one was kept.
	Recording string `json:"recording,omitempty"`
}

// logRing keeps the last n lines of one plugin, with a per-second rate limit
// so a flooding plugin cannot drown the host or its neighbours.
//
// Lines the plugin writes (stderr, ctx.log) and lines the host writes about
// it are kept in two rings with separate per-second budgets: a plugin can
// make the host write lines (each refused host call logs one), and if those
// shared the plugin's ring they would evict the plugin's earlier output, and
// the host's own earlier records, in a fraction of a second. Past its budget
// a stream is counted and summarized once a second ("N ... suppressed").
//
// Host lines of one shape (level and text, numbers and quoted values
// aside) are folded into the first one still in the ring, with a count and
// the last time: otherwise a plugin could evict the record of one refusal
// (an ATTACH) with a paced flood of another (refused sends, 50 a second
// stay under the rate limit). Texts that differ in more than that (a
// refused statement names its first word, which the plugin picks) are
// bounded by kind, the text's first two words ("denied: sql:"): at most
// maxShapesPerKind distinct lines of a kind are in the ring, and further
// ones fold into one "more ... lines" line of that kind, so no kind can
// take more than maxShapesPerKind+1 lines. Host warnings and errors also
// go to the operator's log (slog), rate limited per plugin, which no ring
// evicts.
type logRing struct {
	mu     sync.Mutex
	seq    uint64 // insertion order across both rings, for tail
	plugin logStream
	host   logStream
	maxLen int
	shapes map[string]int // host line shape → its slot in host.lines
	kinds  map[string]int // host line kind → its distinct shapes in the ring

	log      *slog.Logger // nil: no operator log
	pluginID string
	oplog    logStream     // rate window of lines sent to log (no lines kept)
	sink     func(LogLine) // Config.LogSink for this plugin, or nil
}

// logStream is one bounded ring with its own rate limit. The ring grows
// to size as lines come and only then wraps: most plugins log little, and a
// ring allocated whole cost every supervisor about 180 KiB while idle (a
// tenth of an idle wasm instance).
type logStream struct {
	lines      []seqLine
	size       int // lines kept at most
	next       int
	full       bool
	rate       int
	window     time.Time
	inWindow   int
	suppressed int
}

type seqLine struct {
	seq   uint64
	shape string // host lines: the key of shapes, "" for others
	kind  string // host lines: the key of kinds
	LogLine
}

func newLogRing(n, rate, maxLen int) *logRing {
	return &logRing{
		plugin: logStream{size: max(n, 1), rate: rate},
		host:   logStream{size: max(n, 1), rate: rate},
		maxLen: maxLen,
		shapes: make(map[string]int),
		kinds:  make(map[string]int),
		oplog:  logStream{rate: opLogRate},
	}
}

// maxShapesPerKind bounds the distinct host lines of one kind in the ring.
const maxShapesPerKind = 8

// lineKind is a host line's level and first two words: what the host
// chose to say (e.g. "denied: sql:"), before what the plugin may shape.
func lineKind(level, text string) string {
	end, words := 0, 0
	for end < len(text) && words < 2 {
		if i := strings.IndexByte(text[end:], ' '); i >= 0 {
			end += i + 1
		} else {
			end = len(text)
		}
		words++
	}
	return level + "\x00" + strings.TrimSpace(text[:end])
}

// opLogRate is how many host warnings per plugin per second reach the
// operator's log; the rest are counted in a summary line.
const opLogRate = 10

// toLog sends the ring's host warnings and errors to log as well, naming
// pluginID.
func (r *logRing) toLog(log *slog.Logger, pluginID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log, r.pluginID = log, pluginID
}

// lineShape is the folding key of a host line: its level and text with
// digit runs and quoted values blanked, so "took 12 ms" and "took 9 ms",
// or two refused keys, are one shape.
func lineShape(level, text string) string {
	var b strings.Builder
	b.Grow(len(level) + 1 + len(text))
	b.WriteString(level)
	b.WriteByte(0)
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c >= '0' && c <= '9':
			for i+1 < len(text) && text[i+1] >= '0' && text[i+1] <= '9' {
				i++
			}
			b.WriteByte('#')
		case c == '"':
			if j := strings.IndexByte(text[i+1:], '"'); j >= 0 {
				i += j + 1
			}
			b.WriteString(`""`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// addRecorded is addFor for a line about a failed call whose recording
// was kept under recID ("" none).
func (r *logRing) addRecorded(now time.Time, server, level, source, text, recID string) {
	r.addLine(now, server, level, source, text, recID)
}

func (r *logRing) add(now time.Time, level, source, text string) {
	r.addLine(now, "", level, source, text, "")
}

// addFor is add for a line about one server (the call, event or host call
// it came from): the server's managers see it (Engine.Logs, Server).
// Lines of one shape on two servers are two lines, so folding never hides
// one server's line in another's.
func (r *logRing) addFor(now time.Time, server, level, source, text string) {
	r.addLine(now, server, level, source, text, "")
}

func (r *logRing) addLine(now time.Time, server, level, source, text, recID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Summaries of both streams go to the host ring: they are the host's
	// record that lines were dropped.
	r.roll(now, &r.plugin, "log lines suppressed (rate limit)")
	r.roll(now, &r.host, "host log lines suppressed (rate limit; most are repeats of the lines above)")
	if len(text) > r.maxLen {
		cut := r.maxLen
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	st := &r.plugin
	var shape, kind string
	if source == "host" {
		st = &r.host
		shape, kind = lineShape(level, text), lineKind(level, text)
		if server != "" {
			shape = server + "\x00" + shape
		}
		if r.kinds[kind] >= maxShapesPerKind {
			// Too many different lines of this kind: the rest are counted
			// in one line, so they cannot evict other kinds either.
			shape = "more\x00" + kind
			text = "more host lines starting " + strconv.Quote(strings.TrimPrefix(kind, level+"\x00")) + ", with other texts"
		}
		if i, ok := r.shapes[shape]; ok {
			// A repeat costs no slot and no budget: it cannot evict anything.
			l := &st.lines[i]
			l.Repeats++
			l.Last = now
			if recID != "" {
				l.Recording = recID // the latest failure's, which is kept longest
			}
			return
		}
	}
	if st.inWindow >= st.rate {
		st.suppressed++
		return
	}
	st.inWindow++
	r.push(st, LogLine{Time: now, Level: level, Source: source, Text: text, Server: server, Recording: recID}, shape, kind)
	if source == "host" && level != "info" {
		r.operatorLog(now, level, text)
	}
}

// operatorLog writes a host warning or error to the operator's log, at most
// opLogRate a second per plugin, then one summary of the rest.
func (r *logRing) operatorLog(now time.Time, level, text string) {
	if r.log == nil {
		return
	}
	st := &r.oplog
	if now.Sub(st.window) >= time.Second {
		if st.suppressed > 0 {
			r.log.Warn("plugin host warnings suppressed (rate limit); the plugin's log page keeps them, folded", "plugin", r.pluginID, "suppressed", st.suppressed)
			st.suppressed = 0
		}
		st.window, st.inWindow = now, 0
	}
	if st.inWindow >= st.rate {
		st.suppressed++
		return
	}
	st.inWindow++
	lvl := slog.LevelWarn
	if level == "error" {
		lvl = slog.LevelError
	}
	r.log.Log(context.Background(), lvl, "plugin host warning", "plugin", r.pluginID, "text", text)
}

// roll starts a new one-second window of st, first writing the summary of
// what the last window suppressed. The summary bypasses the budget: there is
// at most one per stream per second.
func (r *logRing) roll(now time.Time, st *logStream, what string) {
	if now.Sub(st.window) < time.Second {
		return
	}
	if st.suppressed > 0 {
		text := itoa(st.suppressed) + " " + what
		r.push(&r.host, LogLine{Time: now, Level: "warning", Source: "host", Text: text}, "", "")
		if st != &r.host {
			r.operatorLog(now, "warning", text)
		}
		st.suppressed = 0
	}
	st.window, st.inWindow = now, 0
}

func (r *logRing) push(st *logStream, l LogLine, shape, kind string) {
	r.seq++
	if len(st.lines) < st.size {
		// Still growing: nothing to evict. Capacity doubles up to size.
		if len(st.lines) == cap(st.lines) {
			grown := make([]seqLine, len(st.lines), min(max(2*cap(st.lines), 16), st.size))
			copy(grown, st.lines)
			st.lines = grown
		}
		st.lines = st.lines[:len(st.lines)+1]
	} else if old := st.lines[st.next]; old.shape != "" && r.shapes[old.shape] == st.next {
		// Evicted: a later line of its shape starts anew.
		delete(r.shapes, old.shape)
		if !strings.HasPrefix(old.shape, "more\x00") {
			if r.kinds[old.kind]--; r.kinds[old.kind] <= 0 {
				delete(r.kinds, old.kind)
			}
		}
	}
	if shape != "" {
		r.shapes[shape] = st.next
		if !strings.HasPrefix(shape, "more\x00") {
			r.kinds[kind]++
		}
	}
	if r.sink != nil {
		r.sink(l)
	}
	st.lines[st.next] = seqLine{seq: r.seq, shape: shape, kind: kind, LogLine: l}
	st.next = (st.next + 1) % st.size
	if st.next == 0 {
		st.full = true
	}
}

func (st *logStream) all() []seqLine {
	var all []seqLine
	if st.full {
		all = append(all, st.lines[st.next:]...)
	}
	return append(all, st.lines[:st.next]...)
}

// tail returns up to n lines of both rings, oldest first. When both hold
// more than their half of n, each gets half: a page showing the last n
// lines always shows the plugin's own lines, however many the host wrote.
func (r *logRing) tail(n int) []LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, b := r.plugin.all(), r.host.all()
	if n > 0 && len(a)+len(b) > n {
		ka := min(len(a), max(n/2, n-len(b)))
		kb := min(len(b), n-ka)
		a, b = a[len(a)-ka:], b[len(b)-kb:]
	}
	all := make([]LogLine, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || len(a) > 0 && a[0].seq < b[0].seq {
			all, a = append(all, a[0].LogLine), a[1:]
		} else {
			l := b[0].LogLine
			if l.Repeats > 0 {
				l.Text += " (and " + itoa(l.Repeats) + " more like it, the last at " + l.Last.UTC().Format(time.TimeOnly) + " UTC)"
			}
			all, b = append(all, l), b[1:]
		}
	}
	if n > 0 && len(all) > n {
		all = all[len(all)-n:]
	}
	return all
}

// drain reads a plugin's stderr to EOF, line by line, into the ring. It
// keeps reading even when lines are suppressed, so the plugin never blocks
// on a full pipe.
func (r *logRing) drain(rd io.Reader, now func() time.Time) {
	br := bufio.NewReaderSize(rd, 4096)
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line) < r.maxLen+4 {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if len(line) > 0 {
			text := string(line)
			for len(text) > 0 && (text[len(text)-1] == '\n' || text[len(text)-1] == '\r') {
				text = text[:len(text)-1]
			}
			r.add(now(), "info", "stderr", text)
			line = line[:0]
		}
		if err != nil {
			return
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// ReportProblem records a host line about the plugin on a server, for
// problems the host finds outside the engine: the dashboard reports a
// widget handler's answer it cannot show (a bad answer), so the plugin's
// author finds it in the log next to the plugin's own errors.
func (e *Engine) ReportProblem(pluginID, serverID, text string) {
	if s := e.lookup(pluginID); s != nil {
		s.logs.addFor(e.now(), serverID, "error", "host", text)
	}
}
