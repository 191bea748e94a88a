package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
)

// TestMarketStore: version history, per-server versions and the audit log
// behave the same on SQLite and PostgreSQL.
func TestMarketStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, ctx context.Context, s *Store) {
		pub := func(version string, caps ...string) engine.PluginVersion {
			t.Helper()
			v, err := s.PublishVersion(ctx, engine.PluginRecord{ID: "p", Version: version, Archive: []byte("zip " + version)},
				engine.PluginVersion{PluginID: "p", Version: version, Archive: []byte("zip " + version), Hash: "h" + version, Capabilities: caps, SigStatus: "unsigned", PublishedBy: "admin"})
			must(t, err)
			return v
		}
		v1 := pub("1.0.0", "storage:kv")
		v2 := pub("1.1.0", "storage:kv", "discord:send_messages")
		if v1.Seq != 1 || v2.Seq != 2 {
			t.Fatalf("seqs %d %d, want 1 2", v1.Seq, v2.Seq)
		}
		_, err := s.PublishVersion(ctx, engine.PluginRecord{ID: "p", Version: "1.0.0", Archive: []byte("x")}, engine.PluginVersion{PluginID: "p", Version: "1.0.0", Hash: "x"})
		wantErr(t, err, engine.ErrInvalid)
		rec, err := s.GetPlugin(ctx, "p")
		must(t, err)
		if rec.Version != "1.1.0" || string(rec.Archive) != "zip 1.1.0" {
			t.Fatalf("installed plugin %s %q, want the latest version", rec.Version, rec.Archive)
		}
		list, err := s.ListVersions(ctx, "p")
		must(t, err)
		if len(list) != 2 || list[0].Version != "1.1.0" || list[1].Version != "1.0.0" || list[0].Archive != nil ||
			!reflect.DeepEqual(list[0].Capabilities, []string{"storage:kv", "discord:send_messages"}) {
			t.Fatalf("versions %+v", list)
		}
		got, err := s.GetVersion(ctx, "p", "1.0.0")
		must(t, err)
		if string(got.Archive) != "zip 1.0.0" || got.Hash != "h1.0.0" || got.PublishedBy != "admin" {
			t.Fatalf("version 1.0.0: %+v", got)
		}
		_, err = s.GetVersion(ctx, "p", "9.9.9")
		wantErr(t, err, engine.ErrNotFound)

		// Per-server versions.
		_, found, err := s.GetServerVersion(ctx, "10", "p")
		must(t, err)
		if found {
			t.Fatal("server version found before any was saved")
		}
		sv := engine.ServerVersion{ServerID: "10", PluginID: "p", Version: "1.0.0", Pinned: true, Approved: []string{"storage:kv"}}
		must(t, s.PutServerVersion(ctx, sv))
		back, found, err := s.GetServerVersion(ctx, "10", "p")
		must(t, err)
		if !found || !reflect.DeepEqual(back, sv) {
			t.Fatalf("server version %+v, want %+v", back, sv)
		}
		wantErr(t, s.PutServerVersion(ctx, engine.ServerVersion{ServerID: "10", PluginID: "nope", Version: "1"}), engine.ErrNotFound)
		must(t, s.SetEnabled(ctx, "11", "p", true))
		servers, err := s.PluginServers(ctx, "p")
		must(t, err)
		if !reflect.DeepEqual(servers, []string{"10", "11"}) {
			t.Fatalf("plugin servers %v", servers)
		}

		// History is bounded; versions a server runs are kept.
		for i := 0; i < engine.MaxVersionsKept+3; i++ {
			pub(fmt.Sprintf("2.0.%d", i))
		}
		list, err = s.ListVersions(ctx, "p")
		must(t, err)
		if len(list) != engine.MaxVersionsKept+1 || list[len(list)-1].Version != "1.0.0" {
			t.Fatalf("%d versions kept (oldest %s), want %d with the pinned 1.0.0", len(list), list[len(list)-1].Version, engine.MaxVersionsKept+1)
		}

		// Audit: managers' view is their servers only; pages are bounded.
		at := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
		for i, e := range []engine.AuditEntry{
			{Actor: "admin", Action: "publish", PluginID: "p", Version: "1.0.0"},
			{Actor: "user:1", Action: "enable", ServerID: "10", PluginID: "p"},
			{Actor: "user:2", Action: "enable", ServerID: "11", PluginID: "p"},
			{Actor: "user:1", Action: "rollback", ServerID: "10", PluginID: "p", Version: "1.0.0", Detail: "from 1.1.0"},
		} {
			e.At = at.Add(time.Duration(i) * time.Second)
			must(t, s.AddAudit(ctx, e))
		}
		wantErr(t, s.AddAudit(ctx, engine.AuditEntry{Action: "x"}), engine.ErrInvalid)
		all, err := s.ListAudit(ctx, engine.AuditQuery{All: true})
		must(t, err)
		if len(all) != 4 || all[0].Action != "rollback" || all[0].Detail != "from 1.1.0" || !all[0].At.Equal(at.Add(3*time.Second)) {
			t.Fatalf("all entries %+v", all)
		}
		mine, err := s.ListAudit(ctx, engine.AuditQuery{ServerIDs: []string{"10"}})
		must(t, err)
		if len(mine) != 2 || mine[0].ServerID != "10" || mine[1].ServerID != "10" {
			t.Fatalf("server 10's entries %+v", mine)
		}
		none, err := s.ListAudit(ctx, engine.AuditQuery{})
		must(t, err)
		if len(none) != 0 {
			t.Fatalf("a query without servers returned %d entries", len(none))
		}
		page, err := s.ListAudit(ctx, engine.AuditQuery{All: true, Limit: 2, Before: all[1].ID})
		must(t, err)
		if len(page) != 2 || page[0].ID != all[2].ID {
			t.Fatalf("page %+v", page)
		}
		big, err := s.ListAudit(ctx, engine.AuditQuery{All: true, Limit: 1 << 30})
		must(t, err)
		if len(big) != 4 {
			t.Fatal(len(big))
		}

		// Uninstalling drops versions and server versions, not the audit log.
		must(t, s.DeletePlugin(ctx, "p"))
		list, err = s.ListVersions(ctx, "p")
		must(t, err)
		_, found, err = s.GetServerVersion(ctx, "10", "p")
		must(t, err)
		after, err := s.ListAudit(ctx, engine.AuditQuery{All: true})
		must(t, err)
		if len(list) != 0 || found || len(after) != 4 {
			t.Fatalf("after uninstall: %d versions, server version %v, %d audit entries", len(list), found, len(after))
		}
	})
}

// TestVersionRecords guards what migration 0050 keeps per version: its
// changelog, read bounded in characters (a version published before has
// none stored), and a record of every (plugin, version) ever published
// with its hash, which outlives the bounded history and an uninstall, so
// an old package cannot come back unnoticed (attack Q2).
func TestVersionRecords(t *testing.T) {
	eachBackend(t, func(t *testing.T, ctx context.Context, s *Store) {
		pub := func(version, changelog string) {
			t.Helper()
			_, err := s.PublishVersion(ctx, engine.PluginRecord{ID: "p", Version: version, Archive: []byte("zip")},
				engine.PluginVersion{PluginID: "p", Version: version, Archive: []byte("zip"), Hash: "h" + version, Changelog: changelog})
			must(t, err)
		}
		pub("1.0.0", "## 1.0.0\nété")
		pub("1.0.1", "")
		for _, tc := range []struct {
			name, version string
			max           int
			want          string
			stored        bool
		}{
			{"whole", "1.0.0", 100, "## 1.0.0\nété", true},
			{"cut in characters", "1.0.0", 11, "## 1.0.0\nét", true},
			{"empty", "1.0.1", 100, "", true},
		} {
			got, stored, err := s.VersionChangelog(ctx, "p", tc.version, tc.max)
			if err != nil || got != tc.want || stored != tc.stored {
				t.Errorf("%s: %q %v %v, want %q %v", tc.name, got, stored, err, tc.want, tc.stored)
			}
		}
		// A row from before migration 0050.
		if _, err := s.wdb.ExecContext(ctx, s.q("UPDATE plugin_versions SET changelog = NULL WHERE version = ?"), "1.0.1"); err != nil {
			t.Fatal(err)
		}
		if got, stored, err := s.VersionChangelog(ctx, "p", "1.0.1", 100); err != nil || got != "" || stored {
			t.Errorf("changelog of a version published before 0050: %q %v %v, want none stored", got, stored, err)
		}
		_, _, err := s.VersionChangelog(ctx, "p", "9.9.9", 100)
		wantErr(t, err, engine.ErrNotFound)
		_, err = s.PublishVersion(ctx, engine.PluginRecord{ID: "p", Version: "2.0.0"}, engine.PluginVersion{PluginID: "p", Version: "2.0.0", Changelog: "a\x00b"})
		wantErr(t, err, engine.ErrInvalid)

		for i := 0; i < engine.MaxVersionsKept+1; i++ {
			pub(fmt.Sprintf("1.1.%d", i), "")
		}
		if _, err := s.GetVersion(ctx, "p", "1.0.0"); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("1.0.0 still in the history: %v", err)
		}
		must(t, s.DeletePlugin(ctx, "p"))
		for _, tc := range []struct{ version, want string }{{"1.0.0", "h1.0.0"}, {"1.1.50", "h1.1.50"}} {
			if got, err := s.PublishedHash(ctx, "p", tc.version); err != nil || got != tc.want {
				t.Errorf("published hash of %s after pruning and uninstall: %q %v, want %q", tc.version, got, err, tc.want)
			}
		}
		_, err = s.PublishedHash(ctx, "p", "9.9.9")
		wantErr(t, err, engine.ErrNotFound)
	})
}
