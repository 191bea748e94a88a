package store

import (
	"context"
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
