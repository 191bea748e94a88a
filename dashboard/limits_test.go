package dashboard_test

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/dashboard"
)

// rawRequest writes a request by hand on a new connection: head, then
// bodyLen bytes of body produced on the fly (the sender never waits for
// the server to read them), and returns the server's answer: the response
// status, or 0 if the server closed the connection without one. fail
// fails the test if the server neither answers nor closes within 20 s.
func rawRequest(t *testing.T, addr, head string, bodyLen int64, stallAfter int64) (status int, took time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	go func() {
		if _, err := io.WriteString(conn, head); err != nil {
			return
		}
		chunk := make([]byte, 64<<10)
		for i := range chunk {
			chunk[i] = 'A'
		}
		var sent int64
		for sent < bodyLen {
			if stallAfter >= 0 && sent >= stallAfter {
				return // a slow sender: nothing more comes
			}
			n := min(int64(len(chunk)), bodyLen-sent)
			if stallAfter >= 0 {
				n = min(n, stallAfter-sent)
			}
			if _, err := conn.Write(chunk[:n]); err != nil {
				return // the server answered and closed: expected
			}
			sent += n
		}
	}()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	took = time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server held the connection for %v without answering or closing it", took.Round(time.Millisecond))
	}
	if err != nil {
		return 0, took // closed without an answer
	}
	resp.Body.Close()
	return resp.StatusCode, took
}

// watchDir samples the total size of the files in dir until stop is
// called, which returns the largest total seen. (net/http deletes a
// request's multipart temp files once the handler returns, so what
// matters is what they held meanwhile.)
func watchDir(dir string) (stop func() int64) {
	var peak int64
	done, finished := make(chan struct{}), make(chan struct{})
	sample := func() {
		var total int64
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if fi, err := e.Info(); err == nil {
				total += fi.Size()
			}
		}
		peak = max(peak, total)
	}
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				sample()
				return
			case <-time.After(time.Millisecond):
				sample()
			}
		}
	}()
	return func() int64 { close(done); <-finished; return peak }
}

func cookieHeader(c *client) string {
	u, _ := url.Parse(c.env.srv.URL)
	var parts []string
	for _, ck := range c.http.Jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// TestRequestBodyBounds (browser attack, finding 1): no request body is
// read, buffered or spilled to a temp file beyond a small bound before its
// sender is authorized, and no sender holds a connection by sending
// slowly. A signed-in manager sends 40 MiB multipart and form bodies, with
// and without a declared length, with a wrong or no CSRF token, to an
// ordinary route and to the admin upload; and a body that stops after 10
// bytes. Every request is answered (or the connection closed) within
// seconds, and TMPDIR, where Go's multipart parser spills file parts over
// 32 MiB, stays empty.
func TestRequestBodyBounds(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // multipart spills go here: os.TempDir reads it on each call
	env := newEnvOpts(t, envOptions{serve: true, config: func(c *dashboard.Config) { c.BodyTimeout = time.Second }})
	mgr := env.signIn(alice)
	addr := strings.TrimPrefix(env.srv.URL, "http://")
	const big = 40 << 20
	boundary := "XyZbOuNdArY"
	multipartHead := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
	for _, tt := range []struct {
		name, path, contentType, token string
		declared                       bool  // a Content-Length, else one huge chunk (Transfer-Encoding: chunked)
		stallAfter                     int64 // -1: send it all
		want                           []int // accepted statuses; 0 is a close without an answer
	}{
		{"multipart file to /logout, declared, no token", "/logout", "multipart/form-data; boundary=" + boundary, "", true, -1, []int{413}},
		{"multipart file to /logout, declared, wrong token", "/logout", "multipart/form-data; boundary=" + boundary, "wrong", true, -1, []int{413}},
		{"multipart file to /logout, unknown length", "/logout", "multipart/form-data; boundary=" + boundary, "", false, -1, []int{403, 413, 0}},
		{"urlencoded to options, unknown length", "/s/" + serverA + "/p/welcome/options", "application/x-www-form-urlencoded", "", false, -1, []int{403, 413, 0}},
		{"multipart to the upload as a manager", "/marketplace/upload", "multipart/form-data; boundary=" + boundary, "", true, -1, []int{403}},
		{"multipart to the upload as a manager, unknown length", "/marketplace/upload", "multipart/form-data; boundary=" + boundary, "", false, -1, []int{403, 0}},
		{"slow urlencoded body", "/s/" + serverA + "/p/welcome/options", "application/x-www-form-urlencoded", "", true, 10, []int{403, 408, 0}},
		{"slow JSON body with the token", "/p/welcome/dashboard/rpc/get_settings?discord_srv_id=" + serverA, "application/json", mgr.csrf, true, 10, []int{400, 408, 413, 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			head := "POST " + tt.path + " HTTP/1.1\r\nHost: " + addr + "\r\nCookie: " + cookieHeader(mgr) + "\r\nContent-Type: " + tt.contentType + "\r\n"
			if tt.token != "" {
				head += "X-CSRF-Token: " + tt.token + "\r\n"
			}
			var body int64 = big
			if tt.declared {
				if tt.stallAfter >= 0 {
					body = 1000
				}
				head += fmt.Sprintf("Content-Length: %d\r\n\r\n", body)
			} else {
				// No length known up front: only reading can bound it.
				head += "Transfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n", big)
			}
			if strings.HasPrefix(tt.contentType, "multipart") {
				head += multipartHead
			}
			stop := watchDir(tmp)
			status, took := rawRequest(t, addr, head, body, tt.stallAfter)
			if p := stop(); p > 0 {
				t.Errorf("TMPDIR grew to %d bytes during the request: the body was spilled to disk", p)
			}
			ok := false
			for _, w := range tt.want {
				ok = ok || status == w
			}
			if !ok {
				t.Errorf("status %d (0: closed without an answer), want one of %v", status, tt.want)
			}
			if took > 10*time.Second {
				t.Errorf("answered after %v", took.Round(time.Millisecond))
			}
			ents, err := os.ReadDir(tmp)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				fi, _ := e.Info()
				t.Errorf("TMPDIR holds %s (%d bytes): the body was spilled to disk", e.Name(), fi.Size())
			}
			t.Logf("status %d after %v", status, took.Round(time.Millisecond))
		})
	}
	// The bounds leave ordinary requests alone, and an admin's upload gets
	// its larger bound: a 3 MiB plugin installs.
	if resp, body := mgr.postForm("/s/"+serverA+"/p/welcome/enabled", url.Values{"enabled": {"true"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a form post: %d %.300s", resp.StatusCode, body)
	}
	noise := make([]byte, 3<<20)
	rand.Read(noise)
	archive := zipFiles(t, map[string]string{
		"manifest.json": `{"id": "big", "name": "Big", "version": "1.0.0", "script": "__main__.py"}`,
		"__main__.py":   "from maid_sdk import Plugin\nPlugin().run()\n", // it must start: uploads are started once
		"data.bin":      string(noise),
	})
	if resp, body := upload(env.admin(), archive); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("an admin's 3 MiB upload: %d %.300s", resp.StatusCode, body)
	}
}

// alive counts the connections the server has not closed: a read that
// times out (after any answer already sent) means it is still open.
func alive(conns []net.Conn) int {
	n := 0
	buf := make([]byte, 4096)
	for _, c := range conns {
		for { // past any response already sent
			c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
			_, err := c.Read(buf)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				n++
			}
			if err != nil {
				break
			}
		}
	}
	return n
}

// TestConnectionCap (browser attack, finding 3): an unauthenticated
// visitor cannot make maid hold more than Config.MaxConns connections
// (file descriptors), whether the connections sit idle after a request
// (keep-alive) or never finish their headers; a fresh request is served
// within seconds during the flood, long before the header timeout would
// free a slot (idle connections are closed for it, or the one that has
// waited longest, over a second, for its headers).
func TestConnectionCap(t *testing.T) {
	const maxConns, flood = 8, 120
	env := newEnvOpts(t, envOptions{serve: true, config: func(c *dashboard.Config) {
		c.MaxConns = maxConns
		// Neither timeout lets a connection go during the test: the cap
		// and the limiter's evictions do.
		c.ReadHeaderTimeout = time.Minute
		c.IdleTimeout = time.Minute
	}})
	addr := strings.TrimPrefix(env.srv.URL, "http://")
	for _, tt := range []struct {
		name string
		send string // what each connection sends, then it waits
	}{
		{"idle after a request", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"headers never finished", "GET /healthz HTTP/1.1\r\nHost: x\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conns := make([]net.Conn, 0, flood)
			t.Cleanup(func() {
				for _, c := range conns {
					c.Close()
				}
			})
			for range flood {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
				c.Write([]byte(tt.send))
			}
			// The server accepts (and closes) at its own pace: wait until
			// it has seen every connection.
			n := flood
			for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
				if n = alive(conns); n <= maxConns {
					break
				}
			}
			if n > maxConns {
				t.Errorf("the server holds %d of %d connections open, cap %d", n, flood, maxConns)
			}
			start := time.Now()
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			var err error
			for time.Since(start) < 10*time.Second { // a refused connection is retried, as a browser does
				var resp *http.Response
				if resp, err = client.Get(env.srv.URL + "/healthz"); err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				t.Errorf("a fresh request during the flood: %v", err)
			}
			t.Logf("%d of %d connections held open; a fresh request served after %v", n, flood, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestOptionsFormBounds (browser attack, finding 2): the options form
// refuses a string option over plugin.MaxOptionStringLen characters with
// the error at that option (the browser's maxlength says so first), and
// keeps the stored value.
func TestOptionsFormBounds(t *testing.T) {
	env := newEnvOpts(t, envOptions{})
	c := env.signIn(alice)
	page := "/s/" + serverA + "/p/widgets"
	if _, body := c.do("GET", page, "", nil); !strings.Contains(body, `name="opt_my_textbox" id="opt_my_textbox" value="" maxlength="4096"`) {
		t.Errorf("the string option's input has no maxlength")
	}
	form := url.Values{"opt_my_number": {"1"}, "opt_my_dropdown": {"red"}}
	for _, tt := range []struct {
		name   string
		value  string
		status int
	}{
		{"at the limit", strings.Repeat("é", 4096), http.StatusSeeOther},
		{"over it", strings.Repeat("x", 4097), http.StatusUnprocessableEntity},
	} {
		t.Run(tt.name, func(t *testing.T) {
			form.Set("opt_my_textbox", tt.value)
			resp, body := c.postForm(page+"/options", form)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tt.status, body)
			}
			st, err := env.eng.PluginState(env.ctx, serverA, "widgets")
			if err != nil {
				t.Fatal(err)
			}
			if tt.status != http.StatusSeeOther {
				i := strings.Index(body, `id="err_my_textbox"`)
				if i < 0 || !strings.Contains(body[i:min(len(body), i+200)], "at most 4096 characters, got 4097") {
					t.Errorf("no error at my_textbox")
				}
				if st.Options["my_textbox"] == tt.value {
					t.Errorf("the value over the limit was stored")
				}
				return
			}
			if st.Options["my_textbox"] != tt.value {
				t.Errorf("the value at the limit was not stored")
			}
		})
	}
}

// TestSlowReader (browser attack, finding 3's class: what a visitor holds):
// a client that asks for responses and stops reading them cannot hold its
// connection: once a response cannot be written within the write timeout
// the server closes the connection (before, it waited for the reader
// forever).
func TestSlowReader(t *testing.T) {
	env := newEnvOpts(t, envOptions{serve: true, config: func(c *dashboard.Config) {
		c.WriteTimeout = time.Second
		c.IdleTimeout = time.Minute // only the write timeout may end the connection here
	}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(env.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	const asked = 400 // × 12 KiB of CSS: far more than the socket buffers hold
	req := "GET /static/dashboard.css HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := conn.Write([]byte(strings.Repeat(req, asked))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // not reading
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	br := bufio.NewReader(conn)
	got := 0
	for {
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("after %d responses the connection is still open %v later", got, time.Since(start).Round(time.Millisecond))
			}
			break // closed by the server
		}
		got++
	}
	if got >= asked {
		t.Errorf("all %d responses were written to a client that stopped reading for 3 s", got)
	}
	t.Logf("%d of %d responses, then the server closed the connection", got, asked)
}
