package docker

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// TestRemoteEngine runs the conformance suite against the engine reached
// over TCP, as with a remote DOCKER_HOST: the engine sees no file of ours
// (so the attach path is chosen), and stdin EOF must travel as a TCP
// half-close.
func TestRemoteEngine(t *testing.T) {
	local := newTestBackend(t, Options{})
	host := local.cli.DaemonHost()
	if !strings.HasPrefix(host, "unix://") {
		t.Skipf("engine at %s is not a local socket; the other tests already use it remotely", host)
	}
	addr := tcpProxy(t, strings.TrimPrefix(host, "unix://"))
	sandboxtest.Run(t, func(t *testing.T) sandbox.Backend {
		cli, err := client.NewClientWithOpts(client.WithHost("tcp://"+addr), client.WithAPIVersionNegotiation())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		b := newTestBackend(t, Options{Client: cli})
		if b.DataPath() != DataPathAttach {
			t.Fatalf("engine over tcp: data path %q, want %q chosen automatically", b.DataPath(), DataPathAttach)
		}
		return b
	}, sandboxtest.Options{Isolated: true})
}

// tcpProxy forwards a loopback TCP port to a unix socket, passing
// half-closes through, until the test ends.
func tcpProxy(t *testing.T, socket string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.DialTimeout("unix", socket, 10*time.Second)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer wg.Done()
				io.Copy(dst, src)
				if cw, ok := dst.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
			}
			go pipe(out, in)
			go pipe(in, out)
		}
	}()
	return ln.Addr().String()
}
