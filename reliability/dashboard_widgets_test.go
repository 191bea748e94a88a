package reliability

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/internal/memtest"

	"github.com/maidhq/maid/dashboard"
)

// dashDir is the dashboard's view of the test servers "1" and "2".
type dashDir struct{}

func (dashDir) Servers(context.Context) ([]dashboard.Server, error) {
	return []dashboard.Server{{ID: "1", Name: "one"}, {ID: "2", Name: "two"}}, nil
}
func (dashDir) Channels(context.Context, string) ([]dashboard.Channel, error) { return nil, nil }
func (dashDir) Roles(context.Context, string) ([]dashboard.Role, error)       { return nil, nil }
func (dashDir) Members(context.Context, string, int) ([]dashboard.Member, error) {
	return nil, nil
}

// dashSite serves the world's engine through the real dashboard on a local
// HTTP server and returns an HTTP client signed in as admin, with cfg's
// other fields as given.
func dashSite(t *testing.T, w *world, cfg dashboard.Config) (*httptest.Server, *http.Client) {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { h.ServeHTTP(rw, r) }))
	t.Cleanup(srv.Close)
	cfg.Engine, cfg.Directory, cfg.BaseURL = w.Engine, dashDir{}, srv.URL
	if cfg.Approvals == nil {
		cfg.Approvals = w.Store
	}
	site, err := dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h = site.Handler()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: time.Minute}
	resp, err := dashboard.OpenSignInLink(context.Background(), c, site.AdminLink())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/servers" {
		t.Fatalf("admin sign-in ended at %s", resp.Request.URL)
	}
	return srv, c
}

// get fetches a dashboard path and returns its status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// heapPeak runs fn and returns how far the Go heap grew above where it was
// before, at its highest (sampled every millisecond, with an eager
// collector so that garbage does not count as growth).
func heapPeak(fn func()) uint64 {
	old := debug.SetGCPercent(5)
	defer debug.SetGCPercent(old)
	return uint64(memtest.Peak(fn).Alloc)
}

var widgetSrcRe = regexp.MustCompile(`data-src="([^"]+)"`)

// pageView loads a dashboard page and then all its widgets at once (as a
// browser does over HTTP/2), returning each widget's HTML by path.
func pageView(t *testing.T, c *http.Client, base, page string) map[string]string {
	t.Helper()
	status, body := get(t, c, base+page)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %.300s", page, status, body)
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = map[string]string{}
	)
	for _, m := range widgetSrcRe.FindAllStringSubmatch(body, -1) {
		wg.Add(1)
		go func(src string) {
			defer wg.Done()
			status, frag := get(t, c, base+src)
			if status != http.StatusOK {
				t.Errorf("GET %s: %d", src, status)
			}
			mu.Lock()
			out[src] = frag
			mu.Unlock()
		}(m[1])
	}
	wg.Wait()
	if len(out) == 0 {
		t.Fatalf("no widgets on %s: %.500s", page, body)
	}
	return out
}

// TestDashboardWidgetBombs (issue 14): a plugin whose every widget answer
// is built to make rendering explode, each under the 1 MiB protocol line:
// the table of one key per row that took `maid serve` down, a table of
// long quoted cells, 20,000 labels × 20 series, 60,000 pie slices, 25,000
// list items, 300-450 KB stat, text, alert and form values of characters
// that escaping multiplies, markdown of 200,000 uses of a 2 KB link
// reference, of 900,000 nested quotes and of a 1,000-column GFM table over
// 200,000 lines. One page view through the real
// engine and the real dashboard HTTP server, every widget fetched at once:
// each widget answers within its share of the page's HTML budget with a
// visible "Truncated" note, and maid's Go heap grows by a few MiB at most.
//
// Rendering is the host's, whatever the backend: the short form runs on
// the first available backend, the long form (MAID_STRESS=1) on each.
func TestDashboardWidgetBombs(t *testing.T) {
	bs := backends(t)
	if !stress() && len(bs) > 1 {
		bs = bs[:1]
	}
	for _, nb := range bs {
		t.Run(nb.name, func(t *testing.T) {
			lim := testLimits()
			lim.DashboardTimeout = time.Minute // 12 handlers, each building up to 60,000 dicts, queue on one guest: this test bounds memory and HTML, not time
			w := startWorld(t, nb.b, lim)
			id := w.Install(t, hostile("dashboard_widgets"), "1")
			w.Call(t, id, "1", "ping", nil)
			srv, c := dashSite(t, w, dashboard.Config{})
			for _, tt := range []struct {
				name, page string
				widgets    int
			}{
				{"every widget type", "/s/1/p/" + id + "?page=bombs", 12},
				{"issue 14's table alone", "/s/1/p/" + id + "?page=issue", 1},
			} {
				t.Run(tt.name, func(t *testing.T) {
					pageView(t, c, srv.URL, tt.page) // the handlers have run once: their guests are warm
					var frags map[string]string
					grew := heapPeak(func() { frags = pageView(t, c, srv.URL, tt.page) })
					budget := min(256<<10, (2<<20)/tt.widgets)
					total := 0
					for src, f := range frags {
						total += len(f)
						if len(f) > budget {
							t.Errorf("%s: %d bytes of HTML, budget %d", src, len(f), budget)
						}
						if strings.Contains(f, "widget-error") || !strings.Contains(f, `class="widget-truncated"`) {
							t.Errorf("%s: want the widget with a truncation note, got %.300s", src, f)
						}
					}
					t.Logf("%d widgets: %d KiB of HTML in all; heap grew by %d KiB at most during the page view", len(frags), total>>10, grew>>10)
					if len(frags) != tt.widgets {
						t.Errorf("%d widgets loaded, want %d", len(frags), tt.widgets)
					}
					// Each answer is up to 1 MiB, held by the engine and the
					// fragment until it is rendered.
					if grew > 16<<20 {
						t.Errorf("maid's heap grew by %d KiB during one page view (bound 16 MiB)", grew>>10)
					}
				})
			}
			w.goodAnswers(t)
			w.Call(t, id, "1", "ping", nil)
		})
	}
}
