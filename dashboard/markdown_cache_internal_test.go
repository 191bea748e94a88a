package dashboard

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMarkdownCache guards that a description or changelog is rendered
// once, not on every view: the same text again (also from concurrent
// views) is answered from the cache, other text or another limit is
// rendered anew, and the cache stays bounded (attack Q2).
func TestMarkdownCache(t *testing.T) {
	r := newRenderer()
	slow := strings.Repeat("[a](", 4<<10) // 16 KiB: goldmark takes a while
	start := time.Now()
	first, err := r.cachedMarkdown(slow, maxRenderedMarkdown)
	if err != nil {
		t.Fatal(err)
	}
	rendered := time.Since(start)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			again, err := r.cachedMarkdown(slow, maxRenderedMarkdown)
			if took := time.Since(start); err != nil || again != first || took > rendered/4 {
				t.Errorf("the same text again: %v, same %v, %v (rendering took %v): not from the cache", err, again == first, took, rendered)
			}
		}()
	}
	wg.Wait()
	for _, tc := range []struct {
		name  string
		src   string
		limit int
		want  string
	}{
		{"other text", "**b**", maxRenderedMarkdown, "<strong>b</strong>"},
		{"another limit", "**b**", 5, ""}, // over its limit: an error, not the cached HTML
	} {
		h, _ := r.cachedMarkdown(tc.src, tc.limit)
		if !strings.Contains(string(h), tc.want) || tc.want == "" && h != "" {
			t.Errorf("%s: %q, want %q", tc.name, h, tc.want)
		}
	}
	for i := range 2 * maxCachedMarkdown {
		r.cachedMarkdown(strings.Repeat("x", i+1), maxRenderedMarkdown)
	}
	r.cache.mu.Lock()
	n := len(r.cache.m)
	r.cache.mu.Unlock()
	if n > maxCachedMarkdown {
		t.Errorf("the cache holds %d renderings, want at most %d", n, maxCachedMarkdown)
	}
}
