package dashboard

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how many X-Forwarded-For entries clientAddr reads
// from the right. A real chain has a few trusted proxies; the header itself
// is bounded only by the server's header limit (maxHeaderBytes, 64 KiB),
// and a client behind a trusted proxy writes whatever it likes to the left
// of it.
const maxForwardedHops = 16

// clientAddr is the address a request comes from, as sign-in limits count
// it. It is the connection's peer unless the peer is a trusted proxy
// (Config.TrustedProxies): then it is the rightmost X-Forwarded-For entry
// that is not itself a trusted proxy. Rightmost, because each proxy appends
// the address it saw, so only entries right of the first untrusted one were
// written by someone maid trusts; the leftmost entry, which naive code
// takes, is whatever the client sent. This holds only if each listed proxy
// appends the address it saw (Caddy does by default; nginx with
// $proxy_add_x_forwarded_for; HAProxy with "option forwardfor" without
// if-none): one that passes a client's header on unchanged lets the client
// name itself. The standard Forwarded header (RFC 7239) is not read: these
// proxies write X-Forwarded-For, and reading two headers would let a client
// pick the one its proxy does not overwrite.
//
// The zero Addr means "unknown": an unparsable peer (a unix socket) or
// entry (nginx's "unix:", "unknown"), or a client more than
// maxForwardedHops entries away. All unknown clients share one count;
// falling back to a trusted hop instead would lump together everyone
// behind it just the same, and falling through to the next entry left
// would let a client choose its key.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseHop(r.RemoteAddr)
	if !isTrusted(peer, trusted) {
		return peer
	}
	// Header lines in order, entries in a line in order: later is nearer.
	lines := r.Header.Values("X-Forwarded-For")
	hops := 0
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			if hops == maxForwardedHops {
				return netip.Addr{}
			}
			entry := rest
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				rest = ""
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			hops++
			addr := parseHop(entry)
			if !isTrusted(addr, trusted) {
				return addr
			}
			peer = addr
		}
	}
	// Every hop was a trusted proxy (or there was no header): the request
	// started at the leftmost of them.
	return peer
}

// parseHop reads an address as RemoteAddr or an X-Forwarded-For entry
// writes it: "192.0.2.1", "192.0.2.1:443", "2001:db8::1" or
// "[2001:db8::1]:443". An IPv4-mapped IPv6 address is its IPv4 one, so a
// dual-stack listener and a trusted-proxy list of IPv4 prefixes agree; a
// zone is dropped, since prefixes never match a zoned address.
func parseHop(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientKey is the sign-in limit's key for a client address: an IPv4
// address, or an IPv6 one's /64 (one host usually has all of one).
func clientKey(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "?"
	case a.Is4():
		return a.String()
	default:
		return netip.PrefixFrom(a, 64).Masked().String()
	}
}

// ParseTrustedProxies parses a comma-separated list of IP addresses and
// CIDR prefixes ("10.0.0.0/8, 192.0.2.7, fd00::/8"); "" is none. A prefix
// with host bits set ("10.1.2.3/8") is refused rather than widened: it is
// more likely a typo than a wish to trust the whole network. A /0 is
// refused: it trusts every client to name itself, which is the same as
// believing any X-Forwarded-For.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.Contains(item, "/") {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: not a CIDR prefix like 10.0.0.0/8", item)
			}
			if p.Masked() != p {
				return nil, fmt.Errorf("trusted proxy %q: host bits set; the network is %s", item, p.Masked())
			}
			if p.Bits() == 0 || (p.Addr().Is4In6() && p.Bits() == 96) {
				return nil, fmt.Errorf("trusted proxy %q: trusts every address, so any client could name itself; list the proxies' own addresses", item)
			}
			if p.Addr().Is4In6() {
				// clientAddr unmaps addresses before matching, so
				// ::ffff:10.0.0.0/104 must become 10.0.0.0/8 (a mapped
				// prefix shorter than /96 has host bits set: refused above).
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p)
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("trusted proxy %q: not an IP address or CIDR prefix", item)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
