package wasm

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// lineSink records what a LineConfig is given.
type lineSink struct {
	mu    sync.Mutex
	lines []string
	ends  []error
	fail  error // what Line returns
	got   chan string
	ended chan error
}

func newLineSink() *lineSink {
	return &lineSink{got: make(chan string, 1024), ended: make(chan error, 4)}
}

func (s *lineSink) config(maxLine int) sandbox.LineConfig {
	return sandbox.LineConfig{
		MaxLineBytes: maxLine,
		ReplyBytes:   1 << 10,
		Line: func(ctx context.Context, line []byte) error {
			if string(line) == "block" {
				<-ctx.Done() // as a Feed waiting for the budget does
				return ctx.Err()
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			s.lines = append(s.lines, string(line))
			s.got <- string(line)
			return s.fail
		},
		End: func(err error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.ends = append(s.ends, err)
			s.ended <- err
		},
	}
}

func (s *lineSink) state() ([]string, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...), append([]error(nil), s.ends...)
}

// TestGuestStdoutLines: how the guest's writes become lines, and the bound
// on an unfinished line, without a guest.
func TestGuestStdoutLines(t *testing.T) {
	tests := []struct {
		name      string
		before    []string // written before ServeLines
		after     []string // written after
		exit      bool     // the guest exits at the end
		lineErr   error    // Line's answer
		wantLines []string
		wantEnd   string // substring of End's error; "nil" for a clean End, "" for none
		wantWrite string // substring of the failing write's error, "" if all succeed
	}{
		{name: "lines written before are delivered", before: []string{"a\nb"}, after: []string{"c\n"}, wantLines: []string{"a", "bc"}},
		{name: "one write, many lines", after: []string{"x\ny\n\nz\n"}, wantLines: []string{"x", "y", "", "z"}},
		{name: "a line of exactly the limit", after: []string{strings.Repeat("l", 8) + "\n"}, wantLines: []string{strings.Repeat("l", 8)}},
		{name: "an unfinished line over the limit ends the stream", after: []string{"12345", "6789"}, wantEnd: "longer than 8 bytes", wantWrite: "longer than 8 bytes"},
		{name: "a finished line over the limit ends the stream", after: []string{"123456789\n"}, wantEnd: "longer than 8 bytes", wantWrite: "longer than 8 bytes"},
		{name: "an over-long line written before ServeLines", before: []string{"123456789\n"}, wantEnd: "longer than 8 bytes"},
		{name: "a clean exit", after: []string{"a\n"}, exit: true, wantLines: []string{"a"}, wantEnd: "nil"},
		{name: "exit mid-line", after: []string{"a\nb"}, exit: true, wantLines: []string{"a"}, wantEnd: "mid-line"},
		{name: "Line's error ends the stream", after: []string{"a\n", "b\n"}, lineErr: errors.New("conn gone"), wantLines: []string{"a"}, wantEnd: "conn gone", wantWrite: "conn gone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &guestStdout{pipe: newPipe(), ctx: context.Background()}
			s := newLineSink()
			s.fail = tc.lineErr
			for _, w := range tc.before {
				if _, err := g.Write([]byte(w)); err != nil {
					t.Fatal(err)
				}
			}
			if err := g.serveLines(s.config(8)); err != nil {
				t.Fatal(err)
			}
			var werr error
			for _, w := range tc.after {
				if n, err := g.Write([]byte(w)); err != nil {
					werr = err
					break
				} else if n != len(w) {
					t.Fatalf("wrote %d of %d", n, len(w))
				}
			}
			if tc.exit {
				g.exit()
			}
			switch {
			case tc.wantWrite == "" && werr != nil:
				t.Fatalf("write: %v", werr)
			case tc.wantWrite != "" && (werr == nil || !strings.Contains(werr.Error(), tc.wantWrite)):
				t.Fatalf("write error %v, want %q", werr, tc.wantWrite)
			}
			lines, ends := s.state()
			if strings.Join(lines, "|") != strings.Join(tc.wantLines, "|") {
				t.Fatalf("lines %q, want %q", lines, tc.wantLines)
			}
			switch {
			case tc.wantEnd == "" && len(ends) != 0:
				t.Fatalf("End(%v), want none", ends)
			case tc.wantEnd == "nil" && (len(ends) != 1 || ends[0] != nil):
				t.Fatalf("End(%v), want one clean End", ends)
			case tc.wantEnd != "" && tc.wantEnd != "nil" && (len(ends) != 1 || ends[0] == nil || !strings.Contains(ends[0].Error(), tc.wantEnd)):
				t.Fatalf("End(%v), want one End containing %q", ends, tc.wantEnd)
			}
			if len(g.partial) > 8 {
				t.Fatalf("holds %d bytes of an unfinished line, over the limit", len(g.partial))
			}
		})
	}
}

func TestServeLinesRefused(t *testing.T) {
	s := newLineSink()
	tests := []struct {
		name string
		prep func(g *guestStdout)
		cfg  sandbox.LineConfig
	}{
		{name: "after Stdout", prep: func(g *guestStdout) { g.reader() }, cfg: s.config(8)},
		{name: "twice", prep: func(g *guestStdout) { _ = g.serveLines(s.config(8)) }, cfg: s.config(8)},
		{name: "no line limit", cfg: s.config(0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &guestStdout{pipe: newPipe()}
			if tc.prep != nil {
				tc.prep(g)
			}
			if err := g.serveLines(tc.cfg); err == nil {
				t.Fatal("ServeLines succeeded")
			}
		})
	}
}

// TestExitBeforeServeLines: a guest that exited before ServeLines still
// gets its End, exactly once, and its lines unless it was stopped (then
// they go nowhere, as they would after ServeLines).
func TestExitBeforeServeLines(t *testing.T) {
	tests := []struct {
		name      string
		stop      bool // stopped (Kill) before it exited
		exitAfter bool // exits only after ServeLines
		wantLines []string
	}{
		{name: "exited", wantLines: []string{"bye"}},
		{name: "stopped and exited", stop: true},
		{name: "stopped, exits after ServeLines", stop: true, exitAfter: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &guestStdout{pipe: newPipe(), ctx: context.Background()}
			g.Write([]byte("bye\n"))
			if tc.stop {
				g.stopped.Store(true)
			}
			g.pipe.CloseWrite(nil)
			if !tc.exitAfter {
				g.exit()
			}
			s := newLineSink()
			if err := g.serveLines(s.config(64)); err != nil {
				t.Fatal(err)
			}
			if tc.exitAfter {
				g.exit()
			}
			if lines, ends := s.state(); strings.Join(lines, ",") != strings.Join(tc.wantLines, ",") || len(ends) != 1 || ends[0] != nil {
				t.Fatalf("lines %q, ends %v; want lines %q and one End(nil)", lines, ends, tc.wantLines)
			}
		})
	}
}

// TestSentLinePolls: a line queued by SendLine makes stdin readable for
// poll_oneoff.
func TestSentLinePolls(t *testing.T) {
	p := newPipe()
	g := guestStdin{p}
	if ok, _ := g.Poll(experimentalsys.POLLIN, 0); ok {
		t.Fatal("empty stdin polls readable")
	}
	in := &instance{stdin: p}
	in.replyBytes.Store(defaultReplyBytes)
	if err := in.SendLine(context.Background(), []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	if ok, _ := g.Poll(experimentalsys.POLLIN, 0); !ok {
		t.Fatal("stdin with a line does not poll readable")
	}
}

// startLines starts script and serves its stdout as lines.
func startLines(t *testing.T, b *Backend, script string, maxLine int) (*instance, *lineSink) {
	t.Helper()
	inst := sandboxtest.Start(t, context.Background(), b, script, nil)
	go io.Copy(io.Discard, inst.Stderr())
	s := newLineSink()
	cfg := s.config(maxLine)
	cfg.ReplyBytes = 64 << 10
	li, ok := inst.(sandbox.LineInstance)
	if !ok {
		t.Fatal("a wasm instance is not a LineInstance")
	}
	if err := li.ServeLines(cfg); err != nil {
		t.Fatal(err)
	}
	return inst.(*instance), s
}

// waitKilled waits for in's exit, which must be a kill.
func waitKilled(t *testing.T, in *instance) {
	t.Helper()
	if ex, _ := in.Wait(context.Background()); !errors.Is(ex.Err, sandbox.ErrKilled) {
		t.Fatalf("exit %v, want killed", ex)
	}
}

// killEndsClean kills a running guest: it exits killed and its line stream
// ends cleanly (a kill is not a broken stream).
func killEndsClean(t *testing.T, in *instance, s *lineSink) {
	_ = in.Kill()
	waitKilled(t, in)
	if err := <-s.ended; err != nil {
		t.Fatalf("End(%v), want a clean end (a kill is not a broken stream)", err)
	}
}

// TestLines runs guests over the line transport: the boot line, echo, the
// bounds on what the guest writes and on what the host queues, and Kill.
func TestLines(t *testing.T) {
	b := newBackend(t, 1)
	const idle = "say('ready')\nimport time\ntime.sleep(3600)\n"
	tests := []struct {
		name   string
		script string
		run    func(t *testing.T, in *instance, s *lineSink)
	}{
		{name: "echo", script: "say('ready')\nfor line in inp:\n    out.write(line); out.flush()\n", run: func(t *testing.T, in *instance, s *lineSink) {
			for _, msg := range []string{"one", `{"jsonrpc":"2.0"}`, strings.Repeat("z", 100<<10)} {
				if err := in.SendLine(context.Background(), []byte(msg), false); err != nil {
					t.Fatal(err)
				}
				if got := <-s.got; got != msg {
					t.Fatalf("echo %.40q, want %.40q", got, msg)
				}
			}
			_ = in.Stdin().Close()
			if err := <-s.ended; err != nil {
				t.Fatalf("End(%v) after EOF, want a clean end", err)
			}
		}},
		{name: "a guest line over the limit", script: "say('ready')\nout.write(b'x' * (300 << 10)); out.flush()\nimport time\ntime.sleep(3600)\n", run: func(t *testing.T, in *instance, s *lineSink) {
			if err := <-s.ended; err == nil || !strings.Contains(err.Error(), "longer than 262144 bytes") {
				t.Fatalf("End(%v), want the line limit", err)
			}
			if len(in.out.partial) > 256<<10 {
				t.Fatalf("holds %d bytes of the line", len(in.out.partial))
			}
		}},
		{name: "kill unblocks a host waiting to send", script: idle, run: func(t *testing.T, in *instance, s *lineSink) {
			// The guest never reads: requests fill stdin to its bound, then wait.
			line := []byte(strings.Repeat("q", 1023))
			for range pipeBufferBytes / 1024 {
				if err := in.SendLine(context.Background(), line, false); err != nil {
					t.Fatal(err)
				}
			}
			// One more would wait: with its ctx already done, it fails.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := in.SendLine(ctx, line, false); !errors.Is(err, context.Canceled) {
				t.Fatalf("a request past stdin's bound: %v, want it to wait (context.Canceled)", err)
			}
			sent := make(chan error, 1)
			go func() { sent <- in.SendLine(context.Background(), line, false) }()
			_ = in.Kill()
			if err := <-sent; err == nil {
				t.Fatal("a request past stdin's bound was queued")
			}
			waitKilled(t, in)
		}},
		{name: "replies past the bound stop the guest", script: idle, run: func(t *testing.T, in *instance, s *lineSink) {
			line := []byte(strings.Repeat("r", 1023))
			var err error
			for i := 0; i < 1000 && err == nil; i++ {
				err = in.SendLine(context.Background(), line, true)
			}
			if err == nil || !strings.Contains(err.Error(), "replies unread") {
				t.Fatalf("SendLine = %v, want the reply bound", err)
			}
			if ex, _ := in.Wait(context.Background()); ex.Err == nil || !strings.Contains(ex.Err.Error(), "replies unread") {
				t.Fatalf("exit %v, want stopped for unread replies", ex)
			}
		}},
		{name: "kill releases a guest blocked in Line", script: "say('ready')\nsay('block')\n", run: killEndsClean},
		{name: "kill unblocks a guest waiting for input", script: "say('ready')\ninp.readline()\n", run: killEndsClean},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, s := startLines(t, b, tc.script, 256<<10)
			if got := <-s.got; got != "ready" {
				t.Fatalf("first line %q", got)
			}
			tc.run(t, in, s)
		})
	}
}
