package main

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

var errLocked = errors.New("held by another process")

// lockSQLite takes the single-instance lock of a sqlite:// DSN's database
// (PATH.lock beside it); other DSNs need none (PostgreSQL serves many
// nodes; cluster mode coordinates them).
func lockSQLite(dsn string) (release func(), err error) {
	path, ok := strings.CutPrefix(dsn, "sqlite://")
	if !ok {
		return func() {}, nil
	}
	if path == "" {
		path = "./data/maid.db"
	}
	release, err = lockFile(path + ".lock")
	if errors.Is(err, errLocked) {
		return nil, fmt.Errorf("another maid serve is already using the database %s (its lock %s.lock is held): stop it first, or give this one another --db", path, path)
	}
	return release, err
}

// listenFirst opens the dashboard's address before anything else starts
// (migrations, example installs), so a busy port fails at once and says so.
func listenFirst(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("the dashboard cannot listen on %s (%w): is another maid serve or another program using it? Pick another with --addr", addr, err)
	}
	return ln, nil
}
