package dashboard

import "testing"

// TestLocalPath (browser attack, finding 5): a "next" path redirects only
// within the site, whatever a browser would make of it: tabs, newlines and
// other control bytes (browsers drop them: "/\t/x.org" is "//x.org"),
// backslashes (read as slashes), a second leading slash, schemes and
// non-ASCII all fall back to the default.
func TestLocalPath(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"a site path", "/s/1/p/x?page=a#options", "/s/1/p/x?page=a#options"},
		{"root", "/", "/"},
		{"empty", "", "/def"},
		{"relative", "s/1", "/def"},
		{"scheme relative", "//example.org/x", "/def"},
		{"tab between the slashes", "/\t/example.org/x", "/def"},
		{"newline between the slashes", "/\n/example.org/x", "/def"},
		{"carriage return", "/\r/example.org", "/def"},
		{"backslash", "/\\example.org", "/def"},
		{"backslash later", "/s/\\x", "/def"},
		{"NUL", "/s\x00/1", "/def"},
		{"DEL", "/\x7f/example.org", "/def"},
		{"space", "/ /example.org", "/def"},
		{"absolute URL", "https://example.org/", "/def"},
		{"javascript", "javascript:alert(1)", "/def"},
		{"non-ASCII slash lookalike", "/\u2215example.org", "/def"},
		{"encoded double slash, refused to be safe", "/%2F%2Fexample.org", "/def"},
		{"encoded slash later is fine", "/s/a%2Fb", "/s/a%2Fb"},
		{"back into Discord sign-in", "/auth/discord?next=/auth/discord", "/def"},
		{"back into sign-in, encoded", "/%61uth/admin", "/def"},
		{"a page named like auth is fine", "/authors", "/authors"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := localPath(tt.in, "/def"); got != tt.want {
				t.Errorf("localPath(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
