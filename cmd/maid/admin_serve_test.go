package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/dashboard"
	"github.com/maidhq/maid/internal/syncbuf"
)

// TestAdminLinkAgainstServe: the story end to end, in process: a
// running `maid serve` accepts a link `maid admin link` minted from its
// database; the session it starts survives a restart of maid serve; and a
// second use of the link is refused.
func TestAdminLinkAgainstServe(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "maid.db")
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	base := "http://" + addr

	serve := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		var out syncbuf.Buffer
		go func() {
			done <- runServe(ctx, []string{"--addr", addr, "--db", db, "--data-dir", filepath.Join(dir, "data"), "--backend", "process", "--examples", ""}, io.Discard, &out)
		}()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			resp, err := http.Get(base + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case code := <-done:
				t.Fatalf("maid serve exited %d:\n%s", code, out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("maid serve not ready:\n%s", out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		return func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("maid serve exited %d:\n%s", code, out.String())
			}
		}
	}

	stop := serve()
	var linkOut, linkErr bytes.Buffer
	if code := runAdmin(context.Background(), []string{"link", "--db", db, "--addr", addr}, &linkOut, &linkErr); code != 0 {
		t.Fatalf("maid admin link: %d %s", code, linkErr.String())
	}
	link := strings.TrimSpace(linkOut.String())
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) int {
		t.Helper()
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	use := func() int { // the link's page, then its button
		t.Helper()
		resp, err := dashboard.OpenSignInLink(context.Background(), browser, link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := use(); code != http.StatusSeeOther {
		t.Fatalf("the minted link: %d", code)
	}
	if code := get(base + "/api/me"); code != http.StatusOK {
		t.Fatalf("signed in: %d", code)
	}
	stop()

	stop = serve()
	defer stop()
	if code := get(base + "/api/me"); code != http.StatusOK {
		t.Fatalf("after a restart of maid serve: %d, want 200 (signed in still)", code)
	}
	other, _ := cookiejar.New(nil)
	browser.Jar = other
	if code := use(); code != http.StatusUnauthorized {
		t.Fatalf("the link's second use: %d, want 401", code)
	}
}
