package store

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/maidhq/maid/internal/testenv"

	"github.com/maidhq/maid/engine"
)

// TestPostgresPluginSQLOverTLS: with a DSN that asks for TLS, plugin
// connections are encrypted by maid's own dialer, so the message size bound
// still applies (lib/pq's own TLS could not be parsed); verify-full checks
// the server's certificate.
func TestPostgresPluginSQLOverTLS(t *testing.T) {
	dsn := freshPostgres(t)
	for _, tc := range []struct {
		name    string
		sslmode string
		wantErr bool // the connection itself must fail
	}{
		{name: "default", sslmode: ""},
		{name: "require", sslmode: "require"},
		{name: "prefer", sslmode: "prefer"},
		{name: "verify-full without a trusted root", sslmode: "verify-full", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(dsn)
			must(t, err)
			q := u.Query()
			q.Del("sslmode")
			if tc.sslmode != "" {
				q.Set("sslmode", tc.sslmode)
			}
			u.RawQuery = q.Encode()
			s, err := Open(testCtx(t), strings.Replace(u.String(), "sslmode=verify-full", "sslmode=disable", 1), Options{})
			must(t, err)
			defer s.Close()
			p := s.sql.(*pgPluginSQL)
			p.base = u
			ctx := testCtx(t)
			id := "tls_" + strings.ReplaceAll(tc.sslmode, "-", "_")
			install(t, ctx, s, id)
			lim := engine.DefaultLimits.SQL
			r, err := s.SQLQuery(ctx, sqlScope(id), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", nil, lim)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("connected without verifying the server: %v", r.Rows)
				}
				t.Logf("refused: %v", err)
				return
			}
			must(t, err)
			if len(r.Rows) != 1 || r.Rows[0][0] != true {
				testenv.Unavailable(t, "a PostgreSQL server with TLS", "ssl = on in postgresql.conf", fmt.Errorf("the server did not negotiate TLS: %v", r.Rows))
			}
			_, err = s.SQLQuery(ctx, sqlScope(id), "SELECT repeat('x', 60000000) AS a", nil, lim)
			wantErr(t, err, engine.ErrSQLLimit)
			if !strings.Contains(err.Error(), "larger than maid reads") {
				t.Fatalf("not refused by the wire bound: %v", err)
			}
			if n := p.tlsConns.Load(); n != 0 {
				t.Fatalf("%d plugin connections went to lib/pq's own TLS", n)
			}
			// The scope still works on a fresh connection.
			_, err = s.SQLQuery(ctx, sqlScope(id), "SELECT 1 AS one", nil, lim)
			must(t, err)
		})
	}
}
