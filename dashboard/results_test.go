package dashboard_test

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/dashboard"
)

// TestBridgeResultsBudget (second attack, finding 3): many connections
// that ask the bridge for large results and then read nothing make the
// dashboard hold at most its result budget of answers at once (the
// others wait, then get 503), not one encoded result per connection (with
// HTML escaping, six bytes per '<'); and
// answers are JSON without HTML escaping (a '<' stays one byte), served
// as application/json with nosniff.
func TestBridgeResultsBudget(t *testing.T) {
	const budget = 8 << 20
	env := newEnvOpts(t, envOptions{iframes: dashboard.IframeOn, config: func(c *dashboard.Config) { c.ResultBudget = budget }})
	mgr := env.signIn(alice)
	q := "?discord_srv_id=" + serverA
	value := `"` + strings.Repeat("<", 65000) + `"`
	var keys []string
	for i := range 15 {
		k := fmt.Sprintf("big%02d", i)
		keys = append(keys, `"`+k+`"`)
		if resp, body := mgr.postJSON("/p/iframe_probe/dashboard/host/kv.set"+q, `{"key":"`+k+`","value":`+value+`}`); resp.StatusCode != http.StatusOK {
			t.Fatalf("kv.set %s: %d %.200s", k, resp.StatusCode, body)
		}
	}
	getMany := `{"keys":[` + strings.Join(keys, ",") + `]}`

	t.Run("answer not HTML-escaped", func(t *testing.T) {
		resp, body := mgr.postJSON("/p/iframe_probe/dashboard/host/kv.get_many"+q, getMany)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("kv.get_many: %d %.200s", resp.StatusCode, body)
		}
		if ct, ns := resp.Header.Get("Content-Type"), resp.Header.Get("X-Content-Type-Options"); !strings.HasPrefix(ct, "application/json") || ns != "nosniff" {
			t.Errorf("headers: Content-Type %q, X-Content-Type-Options %q", ct, ns)
		}
		if len(body) > 15*65100 || strings.Contains(body, `\u003c`) {
			t.Errorf("answer of %d bytes (escaped: %v), want about %d", len(body), strings.Contains(body, `\u003c`), 15*65000)
		}
	})

	t.Run("slow readers hold at most the budget", func(t *testing.T) {
		u, _ := url.Parse(env.srv.URL)
		var cookies []string
		for _, ck := range mgr.http.Jar.Cookies(u) {
			cookies = append(cookies, ck.Name+"="+ck.Value)
		}
		req := "POST /p/iframe_probe/dashboard/host/kv.get_many" + q + " HTTP/1.1\r\nHost: " + u.Host +
			"\r\nCookie: " + strings.Join(cookies, "; ") + "\r\nX-CSRF-Token: " + mgr.csrf +
			"\r\nContent-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(getMany)) + "\r\n\r\n" + getMany
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		// 64 readers of ~1 MiB answers: about 64 MiB held without the
		// budget, far above the limit below, which leaves room for what
		// the rest of the process allocates meanwhile on a loaded machine.
		const n = 64
		conns := make([]*net.TCPConn, 0, n)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range n {
			c, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			tc := c.(*net.TCPConn)
			_ = tc.SetReadBuffer(4096) // read nothing, and let the kernel take little
			conns = append(conns, tc)
			if _, err := tc.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
		}
		var peak uint64
		for range 10 {
			time.Sleep(400 * time.Millisecond)
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base {
				peak = max(peak, ms.HeapAlloc-base)
			}
		}
		if limit := uint64(budget + 16<<20); peak > limit {
			t.Errorf("%d slow readers made the heap grow by %d MiB, want at most %d MiB (the budget, and pooled encoder buffers)", n, peak>>20, limit>>20)
		}
		t.Logf("heap growth %d MiB with %d slow readers", peak>>20, n)
	})
}
