package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/store"
)

// TestAdminLink: `maid admin link` stores a link in the server's database
// that signs in once, refuses a database that does not exist (it would
// make one no server reads), and checks its flags.
func TestAdminLink(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "maid.db")
	st, err := store.Open(ctx, db, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	var out, errOut bytes.Buffer
	if code := runAdmin(ctx, []string{"link", "-db", db, "-data-dir", dir, "-base-url", "https://maid.example/"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	u, err := url.Parse(strings.TrimSpace(out.String()))
	if err != nil || u.Scheme != "https" || u.Host != "maid.example" || u.Path != "/auth/admin" {
		t.Fatalf("link %q", out.String())
	}
	h := sha256.Sum256([]byte(u.Query().Get("token")))
	for i, want := range []bool{true, false} {
		ok, err := st.UseSignInLink(ctx, hex.EncodeToString(h[:]), time.Now())
		if err != nil || ok != want {
			t.Fatalf("use %d: ok %v err %v, want %v", i+1, ok, err, want)
		}
	}

	for _, tt := range []struct {
		name string
		args []string
		code int
	}{
		{"no subcommand", nil, 2},
		{"unknown subcommand", []string{"links"}, 2},
		{"bad ttl", []string{"link", "-db", db, "-ttl", "0s"}, 2},
		{"missing database", []string{"link", "-db", "sqlite://" + filepath.Join(dir, "nope", "maid.db")}, 1},
		{"bad base URL", []string{"link", "-db", db, "-data-dir", dir, "-base-url", "maid.example"}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := runAdmin(ctx, tt.args, &out, &errOut); code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errOut.String())
			}
			if out.Len() != 0 {
				t.Fatalf("printed a link: %s", out.String())
			}
		})
	}
}
