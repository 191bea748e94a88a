package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/maidhq/maid/dashboard"
)

const adminUsage = `Usage: maid admin link [flags]

Prints a new one-time admin sign-in link for the dashboard of a running
maid serve: the link is stored in maid's database, so run this where that
database is reachable (the same --db as the server). Each link signs in
once and expires after --ttl. Sessions last a week, across restarts.

Flags:
`

func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "link" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, adminUsage)
			return 0
		}
		fmt.Fprint(stderr, adminUsage)
		return 2
	}
	fs := newFlags("admin link", adminUsage, stderr)
	addr := fs.String("addr", envOr("ADDR", "127.0.0.1:8080"), "the server's dashboard listen address (for the default --base-url)")
	baseURL := fs.String("base-url", envOr("BASE_URL", ""), "external URL of the dashboard (default http://ADDR)")
	db, dataDir := storeFlags(fs)
	ttl := fs.Duration("ttl", dashboard.DefaultSignInLinkTTL, "how long the link stays usable")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *ttl <= 0 || *ttl > 7*24*time.Hour {
		fmt.Fprintln(stderr, "maid admin link: --ttl must be between 1s and 168h, and no arguments follow the flags")
		return 2
	}
	base := *baseURL
	if base == "" {
		base = "http://" + *addr
	}
	// A link in a database no server reads is useless: do not create one.
	if path, ok := strings.CutPrefix(*db, "sqlite://"); ok {
		if _, err := os.Stat(path); err != nil {
			fmt.Fprintf(stderr, "maid admin link: database %s: %v (run it where maid serve runs, with the same --db)\n", path, err)
			return 1
		}
	}
	st, err := openStore(ctx, *db, *dataDir, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintf(stderr, "maid admin link: open store: %v\n", err)
		return 1
	}
	defer st.Close()
	link, err := dashboard.NewSignInLink(ctx, st, base, *ttl, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "maid admin link: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "One-time admin sign-in link (valid once, for %s):\n", *ttl)
	fmt.Fprintln(stdout, link)
	return 0
}
