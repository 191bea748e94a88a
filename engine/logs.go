package engine

import (
	"bufio"
	"io"
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
type logRing struct {
	mu     sync.Mutex
	seq    uint64 // insertion order across both rings, for tail
	plugin logStream
	host   logStream
	maxLen int
}

// logStream is one bounded ring with its own rate limit.
type logStream struct {
	lines      []seqLine
	next       int
	full       bool
	rate       int
	window     time.Time
	inWindow   int
	suppressed int
}

type seqLine struct {
	seq uint64
	LogLine
}

func newLogRing(n, rate, maxLen int) *logRing {
	return &logRing{
		plugin: logStream{lines: make([]seqLine, n), rate: rate},
		host:   logStream{lines: make([]seqLine, n), rate: rate},
		maxLen: maxLen,
	}
}

func (r *logRing) add(now time.Time, level, source, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Summaries of both streams go to the host ring: they are the host's
	// record that lines were dropped.
	r.roll(now, &r.plugin, "log lines suppressed (rate limit)")
	r.roll(now, &r.host, "host log lines suppressed (rate limit; most are repeats of the lines above)")
	st := &r.plugin
	if source == "host" {
		st = &r.host
	}
	if st.inWindow >= st.rate {
		st.suppressed++
		return
	}
	st.inWindow++
	if len(text) > r.maxLen {
		cut := r.maxLen
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	r.push(st, LogLine{Time: now, Level: level, Source: source, Text: text})
}

// roll starts a new one-second window of st, first writing the summary of
// what the last window suppressed. The summary bypasses the budget: there is
// at most one per stream per second.
func (r *logRing) roll(now time.Time, st *logStream, what string) {
	if now.Sub(st.window) < time.Second {
		return
	}
	if st.suppressed > 0 {
		r.push(&r.host, LogLine{Time: now, Level: "warning", Source: "host", Text: itoa(st.suppressed) + " " + what})
		st.suppressed = 0
	}
	st.window, st.inWindow = now, 0
}

func (r *logRing) push(st *logStream, l LogLine) {
	r.seq++
	st.lines[st.next] = seqLine{seq: r.seq, LogLine: l}
	st.next = (st.next + 1) % len(st.lines)
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
			all, b = append(all, b[0].LogLine), b[1:]
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
