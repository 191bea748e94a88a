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
type logRing struct {
	mu         sync.Mutex
	lines      []LogLine
	next       int
	full       bool
	rate       int
	maxLen     int
	window     time.Time
	inWindow   int
	suppressed int
}

func newLogRing(n, rate, maxLen int) *logRing {
	return &logRing{lines: make([]LogLine, n), rate: rate, maxLen: maxLen}
}

func (r *logRing) add(now time.Time, level, source, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.window) >= time.Second {
		if r.suppressed > 0 {
			r.push(LogLine{Time: now, Level: "warning", Source: "host", Text: itoa(r.suppressed) + " log lines suppressed (rate limit)"})
			r.suppressed = 0
		}
		r.window, r.inWindow = now, 0
	}
	if source != "host" {
		if r.inWindow >= r.rate {
			r.suppressed++
			return
		}
		r.inWindow++
	}
	if len(text) > r.maxLen {
		cut := r.maxLen
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	r.push(LogLine{Time: now, Level: level, Source: source, Text: text})
}

func (r *logRing) push(l LogLine) {
	r.lines[r.next] = l
	r.next = (r.next + 1) % len(r.lines)
	if r.next == 0 {
		r.full = true
	}
}

// tail returns up to n lines, oldest first.
func (r *logRing) tail(n int) []LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []LogLine
	if r.full {
		all = append(all, r.lines[r.next:]...)
	}
	all = append(all, r.lines[:r.next]...)
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
