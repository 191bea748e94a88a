package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"testing"

	"github.com/maidhq/maid/engine"
)

func pgMsg(typ byte, body []byte) []byte {
	m := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(m[1:], uint32(len(body)+4))
	return append(m, body...)
}

// TestFrameLimitConn: messages within the limit pass byte for byte however
// the stream is split; the header of a longer one never reaches the reader,
// which gets an ErrSQLLimit read error instead; the SSLRequest answer byte
// is not taken for a message.
func TestFrameLimitConn(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ssl      byte // 0: no SSLRequest
		sizes    []int
		limit    int64
		wantMsgs int // messages read before the error (all when no error)
		wantErr  bool
	}{
		{name: "all within", sizes: []int{0, 1, 10, 1000, 5000, 3}, limit: 5000, wantMsgs: 6},
		{name: "too large in the middle", sizes: []int{10, 20, 5001, 5}, limit: 5000, wantMsgs: 2, wantErr: true},
		{name: "too large first", sizes: []int{1 << 30}, limit: 5000, wantMsgs: 0, wantErr: true},
		{name: "unbounded", sizes: []int{100000}, limit: 0, wantMsgs: 1},
		{name: "after ssl refused", ssl: 'N', sizes: []int{7, 8}, limit: 100, wantMsgs: 2},
		{name: "after ssl refused too large", ssl: 'N', sizes: []int{7, 800}, limit: 100, wantMsgs: 1, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stream []byte
			if tc.ssl != 0 {
				stream = append(stream, tc.ssl)
			}
			var bodies [][]byte
			for i, n := range tc.sizes {
				if n > 1<<20 {
					// Only the header: the reader must stop there.
					h := []byte{'D', 0, 0, 0, 0}
					binary.BigEndian.PutUint32(h[1:], uint32(n+4))
					stream = append(stream, h...)
					break
				}
				b := bytes.Repeat([]byte{byte('a' + i)}, n)
				bodies = append(bodies, b)
				stream = append(stream, pgMsg('D', b)...)
			}
			server, client := net.Pipe()
			defer client.Close()
			go func() {
				defer server.Close()
				if tc.ssl != 0 {
					buf := make([]byte, 8)
					io.ReadFull(server, buf)
				}
				for len(stream) > 0 {
					n := min(1+rand.IntN(7), len(stream)) // split headers too
					if _, err := server.Write(stream[:n]); err != nil {
						return
					}
					stream = stream[n:]
				}
			}()
			var lim atomic.Int64
			lim.Store(tc.limit)
			c := &frameLimitConn{Conn: client, limit: &lim}
			if tc.ssl != 0 {
				req := make([]byte, 8)
				binary.BigEndian.PutUint32(req[0:], 8)
				binary.BigEndian.PutUint32(req[4:], sslRequestCode)
				if _, err := c.Write(req); err != nil {
					t.Fatal(err)
				}
			}
			r := bufio.NewReaderSize(c, 16)
			if tc.ssl != 0 {
				if b, err := r.ReadByte(); err != nil || b != tc.ssl {
					t.Fatalf("ssl answer %q %v", b, err)
				}
			}
			got := 0
			var err error
			for {
				hdr := make([]byte, 5)
				if _, err = io.ReadFull(r, hdr); err != nil {
					break
				}
				n := binary.BigEndian.Uint32(hdr[1:]) - 4
				if tc.limit > 0 && int64(n) > tc.limit {
					t.Fatalf("a header of %d bytes reached the reader", n)
				}
				body := make([]byte, n)
				if _, err = io.ReadFull(r, body); err != nil {
					break
				}
				if !bytes.Equal(body, bodies[got]) {
					t.Fatalf("message %d changed", got)
				}
				got++
			}
			if got != tc.wantMsgs {
				t.Fatalf("read %d messages, want %d (%v)", got, tc.wantMsgs, err)
			}
			if tc.wantErr != errors.Is(err, engine.ErrSQLLimit) {
				t.Fatalf("error %v, want ErrSQLLimit: %v", err, tc.wantErr)
			}
		})
	}
}
