package dashboard_test

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/dashboard"
)

// trickle sends head on a new connection, then one byte of body every
// 100 ms until the server closes the connection or stop closes. It
// returns how long the server kept the connection.
func trickle(addr, head string, stop <-chan struct{}) (time.Duration, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	start := time.Now()
	if _, err := conn.Write([]byte(head)); err != nil {
		return time.Since(start), nil
	}
	closed := make(chan struct{})
	go func() { // the server's answer, then its close
		buf := make([]byte, 4096)
		for {
			if _, err := conn.Read(buf); err != nil {
				close(closed)
				return
			}
		}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-closed:
			return time.Since(start), nil
		case <-stop:
			return time.Since(start), nil
		case <-tick.C:
			if _, err := conn.Write([]byte("a")); err != nil {
				<-closed
				return time.Since(start), nil
			}
		}
	}
}

// TestSlowBodiesDoNotHoldTheCap (second attack, finding 4): senders that
// trickle a request body cannot keep the capped connections. A refused
// request's body (here: no session) is not read, and the connection closes
// with the answer, so a flood of reconnecting tricklers leaves room for a
// fresh request within seconds; and a signed-in sender whose body arrives
// slower than the minimum rate loses its connection after the grace, not
// at the 30 s body timeout.
func TestSlowBodiesDoNotHoldTheCap(t *testing.T) {
	const maxConns, flood = 8, 40
	env := newEnvOpts(t, envOptions{serve: true, config: func(c *dashboard.Config) {
		c.MaxConns = maxConns
		c.BodyTimeout = 30 * time.Second
	}})
	addr := strings.TrimPrefix(env.srv.URL, "http://")
	mgr := env.signIn(alice)
	slow := "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200000\r\n\r\n"

	t.Run("unauthenticated flood", func(t *testing.T) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range flood {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := trickle(addr, "POST /logout HTTP/1.1\r\nHost: x\r\n"+slow, stop); err != nil {
						time.Sleep(10 * time.Millisecond) // refused at the cap: reconnect
					}
				}
			}()
		}
		defer func() { close(stop); wg.Wait() }()
		time.Sleep(1500 * time.Millisecond) // the flood fills the cap
		client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		start := time.Now()
		var err error
		for time.Since(start) < 5*time.Second {
			var resp *http.Response
			if resp, err = client.Get(env.srv.URL + "/healthz"); err == nil {
				resp.Body.Close()
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("a fresh request during a flood of trickled bodies: not served within 5 s: %v", err)
		}
		t.Logf("fresh request served after %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("signed-in slow body", func(t *testing.T) {
		head := "POST /p/widgets/dashboard/rpc/get_stat?discord_srv_id=" + serverA + " HTTP/1.1\r\nHost: x\r\nCookie: " +
			cookieHeader(mgr) + "\r\nX-CSRF-Token: " + mgr.csrf + "\r\n" + slow
		stop := make(chan struct{})
		time.AfterFunc(20*time.Second, func() { close(stop) })
		held, err := trickle(addr, head, stop)
		if err != nil {
			t.Fatal(err)
		}
		if held > 10*time.Second {
			t.Errorf("a body trickled at 10 bytes/s held its connection for %v, want about the %v grace", held.Round(time.Millisecond), 5*time.Second)
		}
		t.Logf("held %v", held.Round(time.Millisecond))
	})
}
