package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeChecksFirst: maid serve fails at once, with a message that says
// what to do, when its port is taken or another maid serve holds its SQLite
// database, before it migrates (creates) the database.
func TestServeChecksFirst(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "db", "maid.db")
	db := "sqlite://" + dbPath
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		t.Fatal(err)
	}
	held, err := lockSQLite(db + "-held")
	if err != nil {
		t.Fatal(err)
	}
	defer held()
	for _, tt := range []struct {
		name, addr, db, want string
	}{
		{"port in use", busy.Addr().String(), db, "cannot listen on " + busy.Addr().String()},
		{"database in use", "127.0.0.1:0", db + "-held", "another maid serve is already using the database"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code := runServe(ctx, []string{"--addr", tt.addr, "--db", tt.db, "--data-dir", filepath.Join(dir, "data"), "--backend", "process", "--examples", ""}, &stdout, &stderr)
			if code != 1 || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant %q", code, stderr.String(), tt.want)
			}
			if strings.Contains(stderr.String(), "dashboard: dashboard:") {
				t.Errorf("a doubled prefix: %s", stderr.String())
			}
			if _, err := os.Stat(strings.TrimPrefix(tt.db, "sqlite://")); err == nil {
				t.Error("the database was created (migrated) before the check")
			}
		})
	}
	// The lock is released with its holder.
	held()
	again, err := lockSQLite(db + "-held")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again()
}
