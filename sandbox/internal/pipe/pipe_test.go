package pipe

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

const limit = 64 << 10

// blocked reports whether done is still pending after a moment: a write
// that should wait for room.
func blocked(done <-chan error) bool {
	select {
	case <-done:
		return false
	case <-time.After(50 * time.Millisecond):
		return true
	}
}

func TestPipe(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, p *Pipe)
	}{
		{"write blocks when full until read", func(t *testing.T, p *Pipe) {
			big := bytes.Repeat([]byte("x"), 3*limit)
			done := make(chan error, 1)
			go func() {
				_, err := p.Write(big)
				p.CloseWrite(nil)
				done <- err
			}()
			got, err := io.ReadAll(p)
			if err != nil || !bytes.Equal(got, big) || <-done != nil {
				t.Fatalf("read %d bytes, err %v", len(got), err)
			}
		}},
		{"holds exactly the limit unread", func(t *testing.T, p *Pipe) {
			if n, err := p.Write(make([]byte, limit)); n != limit || err != nil {
				t.Fatalf("write up to the limit = %d, %v", n, err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := p.Write([]byte("y"))
				done <- err
			}()
			if !blocked(done) {
				t.Fatal("write past the limit did not block")
			}
			p.Read(make([]byte, 1))
			if err := <-done; err != nil {
				t.Fatalf("write after room = %v", err)
			}
		}},
		{"close read unblocks writer", func(t *testing.T, p *Pipe) {
			done := make(chan error, 1)
			go func() {
				_, err := p.Write(make([]byte, 2*limit))
				done <- err
			}()
			p.CloseRead()
			if err := <-done; !errors.Is(err, io.ErrClosedPipe) {
				t.Fatalf("write err = %v, want ErrClosedPipe", err)
			}
		}},
		{"close read drops buffer and reads EOF", func(t *testing.T, p *Pipe) {
			p.Write([]byte("ab"))
			p.CloseRead()
			if n, err := p.Read(make([]byte, 4)); n != 0 || err != io.EOF {
				t.Fatalf("read after CloseRead = %d, %v", n, err)
			}
		}},
		{"write after close write fails", func(t *testing.T, p *Pipe) {
			p.CloseWrite(nil)
			if _, err := p.Write([]byte("a")); !errors.Is(err, io.ErrClosedPipe) {
				t.Fatalf("write err = %v, want ErrClosedPipe", err)
			}
		}},
		{"unbound never blocks", func(t *testing.T, p *Pipe) {
			p.Write(make([]byte, limit))
			done := make(chan error, 1)
			go func() {
				_, err := p.Write(make([]byte, 2*limit))
				done <- err
			}()
			if !blocked(done) {
				t.Fatal("write past the limit did not block")
			}
			p.Unbound() // wakes the blocked writer too
			if err := <-done; err != nil {
				t.Fatalf("write = %v", err)
			}
			if n, err := p.Write(make([]byte, 2*limit)); err != nil || n != 2*limit {
				t.Fatalf("write = %d, %v", n, err)
			}
		}},
		{"eof after drain", func(t *testing.T, p *Pipe) {
			p.Write([]byte("ab"))
			p.CloseWrite(nil)
			got, err := io.ReadAll(p)
			if string(got) != "ab" || err != nil {
				t.Fatalf("read %q, %v", got, err)
			}
		}},
		{"error after drain", func(t *testing.T, p *Pipe) {
			p.Write([]byte("ab"))
			boom := errors.New("boom")
			p.CloseWrite(boom)
			p.CloseWrite(errors.New("second")) // only the first counts
			got, err := io.ReadAll(p)
			if string(got) != "ab" || !errors.Is(err, boom) {
				t.Fatalf("read %q, %v", got, err)
			}
		}},
		{"first read hook runs once before blocking", func(t *testing.T, p *Pipe) {
			calls := make(chan struct{}, 2)
			p.OnFirstRead(func() { calls <- struct{}{} })
			done := make(chan error, 1)
			go func() {
				_, err := p.Read(make([]byte, 1))
				done <- err
			}()
			select {
			case <-calls:
			case <-time.After(5 * time.Second):
				t.Fatal("hook did not run while the first read blocks")
			}
			p.Write([]byte("ab"))
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			p.Read(make([]byte, 1))
			if len(calls) != 0 {
				t.Fatal("hook ran again")
			}
		}},
		{"wait readable times out on empty", func(t *testing.T, p *Pipe) {
			if p.WaitReadable(10 * time.Millisecond) {
				t.Fatal("empty pipe reported readable")
			}
		}},
		{"wait readable wakes on write", func(t *testing.T, p *Pipe) {
			go func() {
				time.Sleep(20 * time.Millisecond)
				p.Write([]byte("a"))
			}()
			if !p.WaitReadable(-1) {
				t.Fatal("no timeout, yet not readable")
			}
		}},
		{"wait readable on close", func(t *testing.T, p *Pipe) {
			p.CloseWrite(nil)
			if !p.WaitReadable(0) {
				t.Fatal("closed pipe (EOF ready) reported not readable")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, New(limit)) })
	}
}

func TestPut(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, p *Pipe)
	}{
		{"a line and its newline go whole", func(t *testing.T, p *Pipe) {
			if err := p.Put(ctx, []byte("hello"), true, 0); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 16)
			if n, _ := p.Read(b); string(b[:n]) != "hello\n" {
				t.Fatalf("read %q", b[:n])
			}
		}},
		{"a request waits while the line does not fit", func(t *testing.T, p *Pipe) {
			p.Write(make([]byte, limit-10))
			done := make(chan error, 1)
			go func() { done <- p.Put(ctx, make([]byte, 20), true, 0) }()
			if !blocked(done) {
				t.Fatal("Put past the limit did not wait")
			}
			io.ReadFull(p, make([]byte, limit-10))
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}},
		{"a line over the limit goes alone into an empty pipe", func(t *testing.T, p *Pipe) {
			if err := p.Put(ctx, make([]byte, 2*limit), true, 0); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- p.Put(ctx, []byte("x"), true, 0) }()
			if !blocked(done) {
				t.Fatal("Put behind an over-long line did not wait")
			}
			p.CloseRead()
			<-done
		}},
		{"a waiting request ends with ctx", func(t *testing.T, p *Pipe) {
			p.Write(make([]byte, limit))
			ctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- p.Put(ctx, []byte("x"), true, 0) }()
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("Put = %v, want context.Canceled", err)
			}
		}},
		{"close read unblocks a waiting request", func(t *testing.T, p *Pipe) {
			p.Write(make([]byte, limit))
			done := make(chan error, 1)
			go func() { done <- p.Put(ctx, []byte("x"), true, 0) }()
			p.CloseRead()
			if err := <-done; !errors.Is(err, io.ErrClosedPipe) {
				t.Fatalf("Put = %v, want ErrClosedPipe", err)
			}
		}},
		{"a reply passes the limit by up to over, never waiting", func(t *testing.T, p *Pipe) {
			p.Write(make([]byte, limit))
			if err := p.Put(ctx, make([]byte, 99), false, 100); err != nil {
				t.Fatalf("reply within over = %v", err)
			}
			if err := p.Put(ctx, []byte("x"), false, 100); !errors.Is(err, ErrFull) {
				t.Fatalf("reply past over = %v, want ErrFull", err)
			}
		}},
		{"detach hands back the buffer and closes", func(t *testing.T, p *Pipe) {
			p.Write([]byte("a\nb"))
			if got := p.Detach(); string(got) != "a\nb" {
				t.Fatalf("detached %q", got)
			}
			if _, err := p.Write([]byte("c")); !errors.Is(err, io.ErrClosedPipe) {
				t.Fatalf("write after Detach = %v", err)
			}
			if n, err := p.Read(make([]byte, 4)); n != 0 || err != io.EOF {
				t.Fatalf("read after Detach = %d, %v", n, err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, New(limit)) })
	}
}
