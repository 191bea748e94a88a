package dashboard

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// TestClientAddr: the client a sign-in attempt counts against. A trusted
// proxy's X-Forwarded-For is read from the right and the first hop that is
// not a trusted proxy is the client; anything left of it (what the client
// wrote) is never used, and from an untrusted peer the header is ignored.
func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tt := range []struct {
		name    string
		peer    string
		xff     []string // header lines
		trusted []netip.Prefix
		want    string // clientKey of the result
	}{
		{"no proxies configured: the peer", "192.0.2.7:5555", []string{"198.51.100.1"}, nil, "192.0.2.7"},
		{"untrusted peer: header ignored", "192.0.2.7:5555", []string{"198.51.100.1"}, proxies, "192.0.2.7"},
		{"trusted proxy: the forwarded client", "10.1.2.3:5555", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"trusted proxy, no header: the proxy", "10.1.2.3:5555", nil, proxies, "10.1.2.3"},
		{"a client's forged entry left of the real one", "10.1.2.3:5555", []string{"203.0.113.9, 198.51.100.1"}, proxies, "198.51.100.1"},
		{"two trusted proxies", "10.1.2.3:5555", []string{"198.51.100.1, 10.9.9.9"}, proxies, "198.51.100.1"},
		{"several header lines: the last is nearest", "10.1.2.3:5555", []string{"203.0.113.9", "198.51.100.1"}, proxies, "198.51.100.1"},
		{"every hop trusted: the leftmost", "10.1.2.3:5555", []string{"10.7.7.7, 10.8.8.8"}, proxies, "10.7.7.7"},
		{"an entry with a port", "10.1.2.3:5555", []string{"198.51.100.1:4444"}, proxies, "198.51.100.1"},
		{"an IPv6 client by its /64", "10.1.2.3:5555", []string{"2001:db8:1:2:3:4:5:6"}, proxies, "2001:db8:1:2::/64"},
		{"a bracketed IPv6 entry with a port", "[fd00::1]:5555", []string{"[2001:db8::5]:80"}, proxies, "2001:db8::/64"},
		{"an IPv4-mapped peer is its IPv4 address", "[::ffff:10.1.2.3]:5555", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"garbage nearest the proxy: unknown", "10.1.2.3:5555", []string{"198.51.100.1, unknown"}, proxies, "?"},
		{"empty entries are skipped", "10.1.2.3:5555", []string{"198.51.100.1, ,"}, proxies, "198.51.100.1"},
		{"more trusted hops than read: unknown", "10.1.2.3:5555", []string{"198.51.100.1" + strings.Repeat(", 10.0.0.1", maxForwardedHops)}, proxies, "?"},
		{"unparsable peer", "pipe", []string{"198.51.100.1"}, proxies, "?"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/auth/admin", nil)
			r.RemoteAddr = tt.peer
			for _, l := range tt.xff {
				r.Header.Add("X-Forwarded-For", l)
			}
			if got := clientKey(clientAddr(r, tt.trusted)); got != tt.want {
				t.Fatalf("client = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzClientAddr: any peer and header give an address that is either
// unknown or one the request named, never a trusted proxy unless every
// hop was one, and never a panic.
func FuzzClientAddr(f *testing.F) {
	for _, s := range [][2]string{
		{"10.1.2.3:1", "198.51.100.1, 10.0.0.1"},
		{"[fd00::1]:1", "[2001:db8::1]:80,unknown"},
		{"10.1.2.3:1", strings.Repeat(",", 100)},
		{"192.0.2.1:1", "x"},
		{"10.0.0.1:1", "fe80::1%eth0, ::ffff:192.0.2.1"},
	} {
		f.Add(s[0], s[1])
	}
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", xff)
		a := clientAddr(r, proxies)
		if !a.IsValid() {
			return
		}
		if a.Zone() != "" || a.Is4In6() {
			t.Fatalf("%v: zoned or mapped", a)
		}
		named := []netip.Addr{parseHop(peer)}
		for _, e := range strings.Split(xff, ",") {
			named = append(named, parseHop(strings.TrimSpace(e)))
		}
		if !slices.Contains(named, a) {
			t.Fatalf("%v is named nowhere in the request", a)
		}
		if isTrusted(parseHop(peer), proxies) && isTrusted(a, proxies) {
			for _, n := range named {
				if n.IsValid() && !isTrusted(n, proxies) {
					t.Fatalf("a trusted proxy %v counted while %v was forwarded", a, n)
				}
			}
		}
		_ = clientKey(a)
	})
}

// TestParseTrustedProxies: addresses and prefixes as --trusted-proxies takes
// them; anything else is refused with the item named, never widened.
func TestParseTrustedProxies(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     string // the prefixes joined by spaces, or the error's text
	}{
		{"none", " , ", ""},
		{"an IPv4 address", "192.0.2.7", "192.0.2.7/32"},
		{"prefixes and addresses", "10.0.0.0/8, fd00::/8,2001:db8::1", "10.0.0.0/8 fd00::/8 2001:db8::1/128"},
		{"an IPv4-mapped address is its IPv4 one", "::ffff:192.0.2.7", "192.0.2.7/32"},
		{"an IPv4-mapped prefix is its IPv4 one", "::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"an IPv4-mapped prefix shorter than /96", "::ffff:0.0.0.0/80", `"::ffff:0.0.0.0/80": host bits set; the network is ::/80`},
		{"host bits set", "10.1.2.3/8", `"10.1.2.3/8": host bits set; the network is 10.0.0.0/8`},
		{"every IPv4 address", "0.0.0.0/0", `"0.0.0.0/0": trusts every address, so any client could name itself; list the proxies' own addresses`},
		{"every IPv6 address", "10.0.0.0/8, ::/0", `"::/0": trusts every address, so any client could name itself; list the proxies' own addresses`},
		{"every IPv4-mapped address", "::ffff:0.0.0.0/96", `"::ffff:0.0.0.0/96": trusts every address, so any client could name itself; list the proxies' own addresses`},
		{"a host name", "proxy.internal", `"proxy.internal": not an IP address or CIDR prefix`},
		{"a zone", "fe80::1%eth0", `"fe80::1%eth0": not an IP address or CIDR prefix`},
		{"a bad prefix length", "10.0.0.0/33", `"10.0.0.0/33": not a CIDR prefix like 10.0.0.0/8`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := ParseTrustedProxies(tt.in)
			var got []string
			for _, p := range ps {
				got = append(got, p.String())
			}
			gotS, wantErr := strings.Join(got, " "), strings.HasPrefix(tt.want, `"`)
			if err != nil {
				gotS = err.Error()
			}
			if (err != nil) != wantErr || (wantErr && gotS != "trusted proxy "+tt.want) || (!wantErr && gotS != tt.want) {
				t.Fatalf("ParseTrustedProxies(%q) = %q, want %q", tt.in, gotS, tt.want)
			}
		})
	}
}
