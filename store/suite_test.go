package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
)

// TestStore runs one suite against every backend: each behaviour must be
// identical on SQLite and PostgreSQL.
func TestStore(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			for _, tc := range suite {
				t.Run(tc.name, func(t *testing.T) {
					// Unique ids keep cases independent on one database.
					tc.run(t, testCtx(t), s, strings.ReplaceAll(tc.name, " ", "_"))
				})
			}
		})
	}
}

type suiteCase struct {
	name string
	run  func(t *testing.T, ctx context.Context, s *Store, id string)
}

func install(t *testing.T, ctx context.Context, s *Store, id string) {
	t.Helper()
	if err := s.PutPlugin(ctx, engine.PluginRecord{ID: id, Version: "1.0.0", Archive: []byte("zip:" + id)}); err != nil {
		t.Fatalf("install %s: %v", id, err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

var noQuota = engine.Quota{}

// sqlScope is plugin id's SQL scope on server "1".
func sqlScope(id string) engine.Scope { return engine.Scope{PluginID: id, ServerID: "1"} }

var sqlLim = engine.SQLLimits{Timeout: 10 * time.Second, MaxRows: 1000, MaxBytes: 1 << 20, MaxDBBytes: 64 << 20}

var suite = []suiteCase{
	{"plugins put get list", func(t *testing.T, ctx context.Context, s *Store, id string) {
		_, err := s.GetPlugin(ctx, id+"a")
		wantErr(t, err, engine.ErrNotFound)
		at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
		must(t, s.PutPlugin(ctx, engine.PluginRecord{ID: id + "b", Version: "2.0", Archive: []byte{0, 1, 2, 255}, InstalledAt: at, UpdatedAt: at}))
		must(t, s.PutPlugin(ctx, engine.PluginRecord{ID: id + "a", Version: "1.0", Archive: []byte("A")}))
		got, err := s.GetPlugin(ctx, id+"b")
		must(t, err)
		want := engine.PluginRecord{ID: id + "b", Version: "2.0", Archive: []byte{0, 1, 2, 255}, InstalledAt: at, UpdatedAt: at}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("get: got %+v, want %+v", got, want)
		}
		list, err := s.ListPlugins(ctx)
		must(t, err)
		var ids []string
		for _, p := range list {
			if strings.HasPrefix(p.ID, id) {
				ids = append(ids, p.ID)
				if p.Archive != nil {
					t.Errorf("list: archive of %s not nil", p.ID)
				}
			}
		}
		if !reflect.DeepEqual(ids, []string{id + "a", id + "b"}) {
			t.Fatalf("list: got %v", ids)
		}
	}},
	{"plugins replace keeps data", func(t *testing.T, ctx context.Context, s *Store, id string) {
		first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		must(t, s.PutPlugin(ctx, engine.PluginRecord{ID: id, Version: "1", Archive: []byte("v1"), InstalledAt: first, UpdatedAt: first}))
		sc := engine.Scope{PluginID: id, ServerID: "1"}
		must(t, s.KVSet(ctx, sc, "k", raw(`{"a":1}`), noQuota))
		must(t, s.SetEnabled(ctx, "1", id, true))
		must(t, s.SetOptions(ctx, "1", id, map[string]json.RawMessage{"color": raw(`"red"`)}))
		must(t, s.MetricAdd(ctx, "1", id, "clicks", "2026-01-01", 3, 0))
		_, err := s.SQLExec(ctx, sqlScope(id), "CREATE TABLE t (x INTEGER)", nil, sqlLim)
		must(t, err)
		_, err = s.SQLExec(ctx, sqlScope(id), "INSERT INTO t (x) VALUES (?)", []any{float64(7)}, sqlLim)
		must(t, err)

		later := first.Add(time.Hour)
		must(t, s.PutPlugin(ctx, engine.PluginRecord{ID: id, Version: "2", Archive: []byte("v2"), UpdatedAt: later}))
		p, err := s.GetPlugin(ctx, id)
		must(t, err)
		if p.Version != "2" || string(p.Archive) != "v2" || !p.InstalledAt.Equal(first) || !p.UpdatedAt.Equal(later) {
			t.Fatalf("after replace: %+v", p)
		}
		v, ok, err := s.KVGet(ctx, sc, "k")
		must(t, err)
		if !ok || string(v) != `{"a":1}` {
			t.Fatalf("kv after replace: %s %v", v, ok)
		}
		sp, err := s.GetServerPlugin(ctx, "1", id)
		must(t, err)
		if !sp.Enabled || string(sp.Options["color"]) != `"red"` {
			t.Fatalf("settings after replace: %+v", sp)
		}
		m, err := s.MetricRange(ctx, "1", id, "clicks", "2026-01-01", "2026-01-01")
		must(t, err)
		if m["2026-01-01"] != 3 {
			t.Fatalf("metrics after replace: %v", m)
		}
		r, err := s.SQLQuery(ctx, sqlScope(id), "SELECT x FROM t", nil, sqlLim)
		must(t, err)
		if len(r.Rows) != 1 || r.Rows[0][0] != int64(7) {
			t.Fatalf("sql after replace: %+v", r)
		}
	}},
	{"plugins delete removes everything", func(t *testing.T, ctx context.Context, s *Store, id string) {
		other := id + "_other"
		install(t, ctx, s, id)
		install(t, ctx, s, other)
		for _, pid := range []string{id, other} {
			for _, srv := range []string{"1", "2"} {
				must(t, s.KVSet(ctx, engine.Scope{PluginID: pid, ServerID: srv}, "k", raw(`1`), noQuota))
				must(t, s.SetEnabled(ctx, srv, pid, true))
				must(t, s.MetricAdd(ctx, srv, pid, "m", "2026-02-01", 1, 0))
			}
			_, err := s.SQLExec(ctx, sqlScope(pid), "CREATE TABLE t (x INTEGER)", nil, sqlLim)
			must(t, err)
		}
		must(t, s.MetricAdd(ctx, "1", "", "messages", "2026-02-01", 5, 0))

		must(t, s.DeletePlugin(ctx, id))
		_, err := s.GetPlugin(ctx, id)
		wantErr(t, err, engine.ErrNotFound)
		wantErr(t, s.DeletePlugin(ctx, id), engine.ErrNotFound)
		en, err := s.EnabledPlugins(ctx, "1")
		must(t, err)
		for _, e := range en {
			if e == id {
				t.Fatal("deleted plugin still enabled")
			}
		}
		m, err := s.MetricRange(ctx, "1", id, "m", "2026-01-01", "2026-12-31")
		must(t, err)
		if len(m) != 0 {
			t.Fatalf("metrics of deleted plugin remain: %v", m)
		}
		m, err = s.MetricRange(ctx, "1", "", "messages", "2026-02-01", "2026-02-01")
		must(t, err)
		if m["2026-02-01"] != 5 {
			t.Fatalf("host metrics lost: %v", m)
		}
		// Reinstalled, it starts empty.
		install(t, ctx, s, id)
		for _, srv := range []string{"1", "2"} {
			n, err := s.KVCount(ctx, engine.Scope{PluginID: id, ServerID: srv}, "")
			must(t, err)
			if n != 0 {
				t.Fatalf("kv of deleted plugin remains on %s: %d keys", srv, n)
			}
			sp, err := s.GetServerPlugin(ctx, srv, id)
			must(t, err)
			if sp.Enabled {
				t.Fatal("settings of deleted plugin remain")
			}
		}
		_, err = s.SQLQuery(ctx, sqlScope(id), "SELECT x FROM t", nil, sqlLim)
		wantErr(t, err, engine.ErrInvalid) // no such table
		// The other plugin is untouched.
		_, ok, err := s.KVGet(ctx, engine.Scope{PluginID: other, ServerID: "2"}, "k")
		must(t, err)
		if !ok {
			t.Fatal("other plugin's kv deleted")
		}
		_, err = s.SQLQuery(ctx, sqlScope(other), "SELECT x FROM t", nil, sqlLim)
		must(t, err)
		m, err = s.MetricRange(ctx, "2", other, "m", "2026-02-01", "2026-02-01")
		must(t, err)
		if m["2026-02-01"] != 1 {
			t.Fatalf("other plugin's metrics: %v", m)
		}
	}},
	{"server settings", func(t *testing.T, ctx context.Context, s *Store, id string) {
		srv := "srv_" + id
		a, b := id+"_a", id+"_b"
		sp, err := s.GetServerPlugin(ctx, srv, a)
		must(t, err)
		if sp.Enabled || len(sp.Options) != 0 || sp.Options == nil || sp.ServerID != srv || sp.PluginID != a {
			t.Fatalf("never configured: %+v", sp)
		}
		wantErr(t, s.SetEnabled(ctx, srv, a, true), engine.ErrNotFound)
		wantErr(t, s.SetOptions(ctx, srv, a, nil), engine.ErrNotFound)
		install(t, ctx, s, a)
		install(t, ctx, s, b)
		must(t, s.SetOptions(ctx, srv, b, map[string]json.RawMessage{"n": raw(`5`), "s": raw(`"x"`), "on": raw(`true`)}))
		must(t, s.SetEnabled(ctx, srv, b, true))
		must(t, s.SetEnabled(ctx, srv, a, true))
		must(t, s.SetEnabled(ctx, srv, a, false))
		en, err := s.EnabledPlugins(ctx, srv)
		must(t, err)
		if !reflect.DeepEqual(en, []string{b}) {
			t.Fatalf("enabled: %v", en)
		}
		must(t, s.SetEnabled(ctx, srv, a, true))
		en, err = s.EnabledPlugins(ctx, srv)
		must(t, err)
		if !reflect.DeepEqual(en, []string{a, b}) {
			t.Fatalf("enabled sorted: %v", en)
		}
		// SetOptions replaces, and keeps enablement.
		must(t, s.SetOptions(ctx, srv, b, map[string]json.RawMessage{"n": raw(`6`)}))
		sp, err = s.GetServerPlugin(ctx, srv, b)
		must(t, err)
		if !sp.Enabled || !reflect.DeepEqual(sp.Options, map[string]json.RawMessage{"n": raw(`6`)}) {
			t.Fatalf("after set options: %+v", sp)
		}
		list, err := s.ListServerPlugins(ctx, srv)
		must(t, err)
		if len(list) != 2 || list[0].PluginID != a || list[1].PluginID != b || !list[0].Enabled || len(list[0].Options) != 0 {
			t.Fatalf("list: %+v", list)
		}
		other, err := s.ListServerPlugins(ctx, srv+"x")
		must(t, err)
		if len(other) != 0 {
			t.Fatalf("other server sees: %+v", other)
		}
		en, err = s.EnabledPlugins(ctx, srv+"x")
		must(t, err)
		if en == nil || len(en) != 0 {
			t.Fatalf("other server enabled: %#v", en)
		}
	}},
	{"kv basics", func(t *testing.T, ctx context.Context, s *Store, id string) {
		install(t, ctx, s, id)
		sc := engine.Scope{PluginID: id, ServerID: "1"}
		_, ok, err := s.KVGet(ctx, sc, "missing")
		must(t, err)
		if ok {
			t.Fatal("missing key found")
		}
		// Values come back byte for byte.
		vals := map[string]string{"b": `{"z": 1, "a": [1, 2]}`, "a": `"text"`, "c": `null`, "d": `1.50`, "e": `"é 😀 \u0000"`}
		for k, v := range vals {
			must(t, s.KVSet(ctx, sc, k, raw(v), noQuota))
		}
		for k, v := range vals {
			got, ok, err := s.KVGet(ctx, sc, k)
			must(t, err)
			if !ok || string(got) != v {
				t.Fatalf("get %s: %q %v", k, got, ok)
			}
		}
		must(t, s.KVSet(ctx, sc, "a", raw(`2`), noQuota))
		got, _, _ := s.KVGet(ctx, sc, "a")
		if string(got) != `2` {
			t.Fatalf("overwrite: %s", got)
		}
		keys, err := s.KVList(ctx, sc, "", 0)
		must(t, err)
		if !reflect.DeepEqual(keys, []string{"a", "b", "c", "d", "e"}) {
			t.Fatalf("list: %v", keys)
		}
		keys, err = s.KVList(ctx, sc, "", 2)
		must(t, err)
		if !reflect.DeepEqual(keys, []string{"a", "b"}) {
			t.Fatalf("list limit: %v", keys)
		}
		n, err := s.KVCount(ctx, sc, "")
		must(t, err)
		if n != 5 {
			t.Fatalf("count: %d", n)
		}
		many, err := s.KVGetMany(ctx, sc, []string{"a", "nope", "c"})
		must(t, err)
		if !reflect.DeepEqual(many, map[string]json.RawMessage{"a": raw(`2`), "c": raw(`null`)}) {
			t.Fatalf("get many: %v", many)
		}
		many, err = s.KVGetMany(ctx, sc, nil)
		must(t, err)
		if len(many) != 0 {
			t.Fatalf("get many of nothing: %v", many)
		}
		del, err := s.KVDelete(ctx, sc, "a")
		must(t, err)
		if !del {
			t.Fatal("delete existing: false")
		}
		del, err = s.KVDelete(ctx, sc, "a")
		must(t, err)
		if del {
			t.Fatal("delete missing: true")
		}
		del, err = s.KVDelete(ctx, engine.Scope{PluginID: id, ServerID: "never"}, "a")
		must(t, err)
		if del {
			t.Fatal("delete in empty scope: true")
		}
		must(t, s.KVSetMany(ctx, sc, map[string]json.RawMessage{"x": raw(`1`), "y": raw(`2`), "b": raw(`3`)}, noQuota))
		keys, _ = s.KVList(ctx, sc, "", 0)
		if !reflect.DeepEqual(keys, []string{"b", "c", "d", "e", "x", "y"}) {
			t.Fatalf("after set many: %v", keys)
		}
		// Many keys, past one IN (...) chunk.
		big := map[string]json.RawMessage{}
		var bigKeys []string
		for i := range 1200 {
			k := fmt.Sprintf("big/%04d", i)
			big[k] = raw(fmt.Sprint(i))
			bigKeys = append(bigKeys, k)
		}
		must(t, s.KVSetMany(ctx, sc, big, engine.Quota{MaxKeys: 2000, MaxBytes: 1 << 20}))
		all, err := s.KVGetMany(ctx, sc, bigKeys)
		must(t, err)
		if len(all) != 1200 || string(all["big/1199"]) != "1199" {
			t.Fatalf("get many big: %d", len(all))
		}
	}},
	{"kv not installed", func(t *testing.T, ctx context.Context, s *Store, id string) {
		sc := engine.Scope{PluginID: id, ServerID: "1"}
		wantErr(t, s.KVSet(ctx, sc, "k", raw(`1`), noQuota), engine.ErrNotFound)
		wantErr(t, s.KVSetMany(ctx, sc, map[string]json.RawMessage{"k": raw(`1`)}, noQuota), engine.ErrNotFound)
	}},
	{"kv invalid input", func(t *testing.T, ctx context.Context, s *Store, id string) {
		install(t, ctx, s, id)
		sc := engine.Scope{PluginID: id, ServerID: "1"}
		for _, tc := range []struct {
			name string
			err  error
		}{
			{"nul key", s.KVSet(ctx, sc, "a\x00b", raw(`1`), noQuota)},
			{"invalid utf8 key", s.KVSet(ctx, sc, "a\xffb", raw(`1`), noQuota)},
			{"empty value", s.KVSet(ctx, sc, "k", nil, noQuota)},
			{"nul server", s.KVSet(ctx, engine.Scope{PluginID: id, ServerID: "\x00"}, "k", raw(`1`), noQuota)},
			{"invalid prefix", func() error { _, err := s.KVList(ctx, sc, "\xff", 0); return err }()},
			{"invalid get key", func() error { _, _, err := s.KVGet(ctx, sc, "\x00"); return err }()},
			{"set many one bad", s.KVSetMany(ctx, sc, map[string]json.RawMessage{"ok": raw(`1`), "\x00": raw(`1`)}, noQuota)},
		} {
			if !errors.Is(tc.err, engine.ErrInvalid) {
				t.Errorf("%s: got %v, want ErrInvalid", tc.name, tc.err)
			}
		}
		n, err := s.KVCount(ctx, sc, "")
		must(t, err)
		if n != 0 {
			t.Fatalf("invalid writes wrote %d keys", n)
		}
	}},
	{"kv scoping", func(t *testing.T, ctx context.Context, s *Store, id string) {
		a, b := id+"_a", id+"_b"
		install(t, ctx, s, a)
		install(t, ctx, s, b)
		scopes := []engine.Scope{{PluginID: a, ServerID: "1"}, {PluginID: a, ServerID: "2"}, {PluginID: b, ServerID: "1"}, {PluginID: a, ServerID: "11"}}
		for i, sc := range scopes {
			must(t, s.KVSet(ctx, sc, "shared", raw(fmt.Sprint(i)), noQuota))
			must(t, s.KVSet(ctx, sc, fmt.Sprintf("own%d", i), raw(`true`), noQuota))
		}
		for i, sc := range scopes {
			v, _, err := s.KVGet(ctx, sc, "shared")
			must(t, err)
			if string(v) != fmt.Sprint(i) {
				t.Fatalf("scope %v sees %s", sc, v)
			}
			keys, err := s.KVList(ctx, sc, "", 0)
			must(t, err)
			if !reflect.DeepEqual(keys, []string{fmt.Sprintf("own%d", i), "shared"}) {
				t.Fatalf("scope %v lists %v", sc, keys)
			}
			many, err := s.KVGetMany(ctx, sc, []string{"own0", "own1", "own2", "own3"})
			must(t, err)
			if len(many) != 1 {
				t.Fatalf("scope %v gets many %v", sc, many)
			}
		}
		del, err := s.KVDelete(ctx, scopes[0], "own1")
		must(t, err)
		if del {
			t.Fatal("deleted another scope's key")
		}
		if _, ok, _ := s.KVGet(ctx, scopes[1], "own1"); !ok {
			t.Fatal("other scope's key gone")
		}
	}},
	{"kv prefix is literal", func(t *testing.T, ctx context.Context, s *Store, id string) {
		install(t, ctx, s, id)
		sc := engine.Scope{PluginID: id, ServerID: "1"}
		keys := []string{"a%b", "a%", "a_b", "axb", "ab", "A%b", `a\b`, `a\\b`, "a", "é", "éa", "e", "😀x", "😀", "\uffff", "\U0010ffff", "b"}
		for _, k := range keys {
			must(t, s.KVSet(ctx, sc, k, raw(`1`), noQuota))
		}
		for _, tc := range []struct {
			prefix string
			want   []string
		}{
			{"a%", []string{"a%", "a%b"}},
			{"a_", []string{"a_b"}},
			{`a\`, []string{`a\\b`, `a\b`}},
			{"a", []string{"a", "a%", "a%b", `a\\b`, `a\b`, "a_b", "ab", "axb"}},
			{"A", []string{"A%b"}},
			{"é", []string{"é", "éa"}},
			{"😀", []string{"😀", "😀x"}},
			{"\uffff", []string{"\uffff"}},
			{"\U0010ffff", []string{"\U0010ffff"}},
			{"%", nil},
			{"_", nil},
			{"zz", nil},
		} {
			got, err := s.KVList(ctx, sc, tc.prefix, 0)
			must(t, err)
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("prefix %q: got %q, want %q", tc.prefix, got, tc.want)
			}
			n, err := s.KVCount(ctx, sc, tc.prefix)
			must(t, err)
			if n != len(tc.want) {
				t.Errorf("count prefix %q: got %d, want %d", tc.prefix, n, len(tc.want))
			}
		}
		// Full list in byte order.
		all, err := s.KVList(ctx, sc, "", 0)
		must(t, err)
		for i := 1; i < len(all); i++ {
			if all[i-1] >= all[i] {
				t.Fatalf("not in byte order: %q", all)
			}
		}
	}},
	{"kv quota keys", func(t *testing.T, ctx context.Context, s *Store, id string) {
		install(t, ctx, s, id)
		sc := engine.Scope{PluginID: id, ServerID: "1"}
		q := engine.Quota{MaxKeys: 3, MaxBytes: 1 << 20}
		for _, k := range []string{"a", "b", "c"} {
			must(t, s.KVSet(ctx, sc, k, raw(`1`), q))
		}
		wantErr(t, s.KVSet(ctx, sc, "d", raw(`1`), q), engine.ErrQuota)
		must(t, s.KVSet(ctx, sc, "a", raw(`2`), q)) // overwrite: no new key
		// Another scope has its own quota.
		must(t, s.KVSet(ctx, engine.Scope{PluginID: id, ServerID: "2"}, "d", raw(`1`), q))
		if _, err := s.KVDelete(ctx, sc, "b"); err != nil {
			t.Fatal(err)
		}
		must(t, s.KVSet(ctx, sc, "d", raw(`1`), q))
		keys, _ := s.KVList(ctx, sc, "", 0)
		if !reflect.DeepEqual(keys, []string{"a", "c", "d"}) {
			t.Fatalf("keys: %v", keys)
		}
	}},
	{"kv quota bytes accounting", func(t *testing.T, ctx context.Context, s *Store, id string) {
		install(t, ctx, s, id)
		sc := engine.Scope{PluginID: id, ServerID: "1"}
		q := engine.Quota{MaxKeys: 100, MaxBytes: 20}
		must(t, s.KVSet(ctx, sc, "k1", raw(`"12345678"`), q)) // 12 bytes
		must(t, s.KVSet(ctx, sc, "k2", raw(`"1234"`), q))     // +8 = 20: at the quota is fine
		wantErr(t, s.KVSet(ctx, sc, "k3", raw(`1`), q), engine.ErrQuota)
		// Overwriting counts the difference: k1 shrinks by 8, so 8 bytes free up.
		must(t, s.KVSet(ctx, sc, "k1", raw(`1`), q))                       // 2+1: total 11
		must(t, s.KVSet(ctx, sc, "k3", raw(`"1234"`), q))                  // +8: 19
		must(t, s.KVSet(ctx, sc, "k1", raw(`12`), q))                      // +1: 20
		wantErr(t, s.KVSet(ctx, sc, "k1", raw(`123`), q), engine.ErrQuota) // +1: 21
		v, _, _ := s.KVGet(ctx, sc, "k1")
		if string(v) != `12` {
			t.Fatalf("refused write changed k1 to %s", v)
		}
	}},
	{"kv set many all or nothing", func(t *testing.T, ctx context.Context, s *Store, id string) {
		install(t, ctx, s, id)
		sc := engine.Scope{PluginID: id, ServerID: "1"}
		q := engine.Quota{MaxKeys: 3, MaxBytes: 1 << 20}
		must(t, s.KVSet(ctx, sc, "a", raw(`"old"`), q))
		err := s.KVSetMany(ctx, sc, map[string]json.RawMessage{"a": raw(`"new"`), "b": raw(`1`), "c": raw(`1`), "d": raw(`1`)}, q)
		wantErr(t, err, engine.ErrQuota)
		v, _, _ := s.KVGet(ctx, sc, "a")
		if string(v) != `"old"` {
			t.Fatalf("partial write: a = %s", v)
		}
		if n, _ := s.KVCount(ctx, sc, ""); n != 1 {
			t.Fatalf("partial write: %d keys", n)
		}
		must(t, s.KVSetMany(ctx, sc, map[string]json.RawMessage{"a": raw(`"new"`), "b": raw(`1`), "c": raw(`1`)}, q))
		if n, _ := s.KVCount(ctx, sc, ""); n != 3 {
			t.Fatalf("after set many: %d keys", n)
		}
		// Bytes too.
		qb := engine.Quota{MaxKeys: 100, MaxBytes: 30}
		sc2 := engine.Scope{PluginID: id, ServerID: "2"}
		err = s.KVSetMany(ctx, sc2, map[string]json.RawMessage{"x": raw(`"0123456789"`), "y": raw(`"0123456789"`), "z": raw(`"0123456789"`)}, qb)
		wantErr(t, err, engine.ErrQuota)
		if n, _ := s.KVCount(ctx, sc2, ""); n != 0 {
			t.Fatalf("partial byte write: %d keys", n)
		}
	}},
	{"kv quota lowered", func(t *testing.T, ctx context.Context, s *Store, id string) {
		install(t, ctx, s, id)
		sc := engine.Scope{PluginID: id, ServerID: "1"}
		must(t, s.KVSetMany(ctx, sc, map[string]json.RawMessage{"a": raw(`"aaaa"`), "b": raw(`1`), "c": raw(`1`)}, noQuota))
		low := engine.Quota{MaxKeys: 2, MaxBytes: 5}
		wantErr(t, s.KVSet(ctx, sc, "d", raw(`1`), low), engine.ErrQuota)
		wantErr(t, s.KVSet(ctx, sc, "b", raw(`22`), low), engine.ErrQuota) // grows bytes
		must(t, s.KVSet(ctx, sc, "a", raw(`1`), low))                      // shrinks: allowed while over
	}},
	{"kv concurrent writers never pass quota", func(t *testing.T, ctx context.Context, s *Store, id string) {
		install(t, ctx, s, id)
		sc := engine.Scope{PluginID: id, ServerID: "1"}
		q := engine.Quota{MaxKeys: 50, MaxBytes: 1 << 20}
		const workers, each = 16, 10
		var mu sync.Mutex
		ok, over := 0, 0
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					var err error
					if i%3 == 2 {
						err = s.KVSetMany(ctx, sc, map[string]json.RawMessage{fmt.Sprintf("w%d/%d/a", w, i): raw(`1`), fmt.Sprintf("w%d/%d/b", w, i): raw(`1`)}, q)
					} else {
						err = s.KVSet(ctx, sc, fmt.Sprintf("w%d/%d", w, i), raw(`1`), q)
					}
					mu.Lock()
					switch {
					case err == nil:
						ok++
					case errors.Is(err, engine.ErrQuota):
						over++
					default:
						errs <- err
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("unexpected error: %v", err)
		}
		n, err := s.KVCount(ctx, sc, "")
		must(t, err)
		if n > q.MaxKeys {
			t.Fatalf("quota passed: %d keys > %d", n, q.MaxKeys)
		}
		if n < q.MaxKeys-1 || over == 0 {
			// 160+ keys were offered; the scope must fill up (within one
			// two-key batch) and the rest be refused.
			t.Fatalf("scope holds %d keys with %d refusals", n, over)
		}
		// The counters agree with the data.
		var kc, bc int64
		must(t, s.rdb.QueryRowxContext(ctx, s.q("SELECT key_count, byte_count FROM kv_usage WHERE plugin_id = ? AND server_id = ?"), id, "1").Scan(&kc, &bc))
		keys, _ := s.KVList(ctx, sc, "", 0)
		var bytesSum int64
		for _, k := range keys {
			bytesSum += int64(len(k) + 1)
		}
		if kc != int64(n) || bc != bytesSum {
			t.Fatalf("usage row (%d keys, %d bytes) != data (%d keys, %d bytes)", kc, bc, n, bytesSum)
		}
	}},
	{"metrics", func(t *testing.T, ctx context.Context, s *Store, id string) {
		srv := "m_" + id
		must(t, s.MetricAdd(ctx, srv, "", "messages", "2026-03-01", 1, 0))
		must(t, s.MetricAdd(ctx, srv, "", "messages", "2026-03-01", 2, 0))
		must(t, s.MetricAdd(ctx, srv, "", "messages", "2026-03-03", 0.5, 0))
		must(t, s.MetricAdd(ctx, srv, "", "messages", "2026-02-28", -1, 0))
		must(t, s.MetricAdd(ctx, srv, id, "messages", "2026-03-01", 100, 0))
		must(t, s.MetricAdd(ctx, srv+"x", "", "messages", "2026-03-01", 100, 0))
		must(t, s.MetricAdd(ctx, srv, "", "other", "2026-03-01", 100, 0))
		got, err := s.MetricRange(ctx, srv, "", "messages", "2026-03-01", "2026-03-31")
		must(t, err)
		if !reflect.DeepEqual(got, map[string]float64{"2026-03-01": 3, "2026-03-03": 0.5}) {
			t.Fatalf("range: %v", got)
		}
		got, err = s.MetricRange(ctx, srv, "", "messages", "2026-02-28", "2026-03-01")
		must(t, err)
		if !reflect.DeepEqual(got, map[string]float64{"2026-02-28": -1, "2026-03-01": 3}) {
			t.Fatalf("inclusive range: %v", got)
		}
		got, err = s.MetricRange(ctx, srv, id, "messages", "2026-01-01", "2026-12-31")
		must(t, err)
		if !reflect.DeepEqual(got, map[string]float64{"2026-03-01": 100}) {
			t.Fatalf("namespace: %v", got)
		}
		got, err = s.MetricRange(ctx, srv, "", "nothing", "2026-01-01", "2026-12-31")
		must(t, err)
		if got == nil || len(got) != 0 {
			t.Fatalf("empty: %#v", got)
		}
		wantErr(t, s.MetricAdd(ctx, srv, "", "m", "2026-3-1", 1, 0), engine.ErrInvalid)
		wantErr(t, s.MetricAdd(ctx, srv, "", "m", "yesterday", 1, 0), engine.ErrInvalid)
		_, err = s.MetricRange(ctx, srv, "", "m", "2026-01-01", "2026-13-01")
		wantErr(t, err, engine.ErrInvalid)
		// Concurrent increments all count.
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 10 {
					if err := s.MetricAdd(ctx, srv, "", "hits", "2026-04-01", 1, 0); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		got, _ = s.MetricRange(ctx, srv, "", "hits", "2026-04-01", "2026-04-01")
		if got["2026-04-01"] != 200 {
			t.Fatalf("concurrent increments: %v", got)
		}
	}},
	{"metric name quota", func(t *testing.T, ctx context.Context, s *Store, id string) {
		// A plugin recording a new name each time would add rows without
		// bound: past maxNames distinct names per (server, namespace) a new
		// name is ErrQuota and writes nothing; known names still count, and
		// other servers and namespaces have their own quota.
		srv := "q_" + id
		const max = 5
		for i := range max {
			must(t, s.MetricAdd(ctx, srv, id, fmt.Sprintf("n%d", i), "2026-05-01", 1, max))
		}
		// Known names keep working on new days.
		must(t, s.MetricAdd(ctx, srv, id, "n0", "2026-05-02", 1, max))
		for i := range 3 {
			err := s.MetricAdd(ctx, srv, id, fmt.Sprintf("new%d", i), "2026-05-01", 1, max)
			wantErr(t, err, engine.ErrQuota)
			if !strings.Contains(err.Error(), "5 distinct metric names") {
				t.Fatalf("quota error does not name the limit: %v", err)
			}
		}
		got, err := s.MetricRange(ctx, srv, id, "new0", "2026-01-01", "2026-12-31")
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("refused metric was written: %v", got)
		}
		var rows int
		must(t, s.rdb.GetContext(ctx, &rows, s.q("SELECT count(*) FROM metrics WHERE server_id = ? AND namespace = ?"), srv, id))
		if rows != max+1 {
			t.Fatalf("%d metric rows, want %d", rows, max+1)
		}
		// Concurrent new names cannot overshoot together.
		var wg sync.WaitGroup
		var ok sync.Map
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if s.MetricAdd(ctx, srv+"c", id, fmt.Sprintf("c%d", i), "2026-05-01", 1, max) == nil {
					ok.Store(i, true)
				}
			}()
		}
		wg.Wait()
		n := 0
		ok.Range(func(any, any) bool { n++; return true })
		if n != max {
			t.Fatalf("%d concurrent new names accepted, want %d", n, max)
		}
		must(t, s.MetricAdd(ctx, srv+"x", id, "new0", "2026-05-01", 1, max))
		must(t, s.MetricAdd(ctx, srv, id+"x", "new0", "2026-05-01", 1, max))
	}},
	{"sql basics", func(t *testing.T, ctx context.Context, s *Store, id string) {
		install(t, ctx, s, id)
		_, err := s.SQLExec(ctx, sqlScope(id), "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, score REAL, n INTEGER)", nil, sqlLim)
		must(t, err)
		for i, body := range []string{"one", "two", "it's ; three"} {
			res, err := s.SQLExec(ctx, sqlScope(id), "INSERT INTO notes (id, body, score, n) VALUES (?, ?, ?, ?)", []any{float64(i + 1), body, 1.5 * float64(i), nil}, sqlLim)
			must(t, err)
			if res.RowsAffected != 1 {
				t.Fatalf("rows affected: %d", res.RowsAffected)
			}
		}
		res, err := s.SQLExec(ctx, sqlScope(id), "UPDATE notes SET n = ? WHERE id >= ?", []any{float64(7), json.Number("2")}, sqlLim)
		must(t, err)
		if res.RowsAffected != 2 {
			t.Fatalf("update rows affected: %d", res.RowsAffected)
		}
		r, err := s.SQLQuery(ctx, sqlScope(id), "SELECT id, body, score, n FROM notes WHERE body <> ? ORDER BY id LIMIT ?", []any{"none", float64(10)}, sqlLim)
		must(t, err)
		want := engine.SQLResult{Columns: []string{"id", "body", "score", "n"}, Rows: [][]any{
			{int64(1), "one", float64(0), nil},
			{int64(2), "two", 1.5, int64(7)},
			{int64(3), "it's ; three", float64(3), int64(7)},
		}}
		if !reflect.DeepEqual(r, want) {
			t.Fatalf("query:\n got %#v\nwant %#v", r, want)
		}
		// Results encode as JSON.
		b, err := json.Marshal(r)
		must(t, err)
		if !bytes.Contains(b, []byte(`"rows":[[1,"one",0,null]`)) {
			t.Fatalf("json: %s", b)
		}
		r, err = s.SQLQuery(ctx, sqlScope(id), "SELECT count(*) AS c FROM notes", nil, sqlLim)
		must(t, err)
		if r.Rows[0][0] != int64(3) {
			t.Fatalf("count: %#v", r.Rows)
		}
		r, err = s.SQLQuery(ctx, sqlScope(id), "SELECT body FROM notes WHERE id > 100", nil, sqlLim)
		must(t, err)
		if r.Rows == nil || len(r.Rows) != 0 || len(r.Columns) != 1 {
			t.Fatalf("empty result: %#v", r)
		}
		_, err = s.SQLQuery(ctx, sqlScope(id), "SELECT nope FROM notes", nil, sqlLim)
		wantErr(t, err, engine.ErrInvalid)
		_, err = s.SQLQuery(ctx, sqlScope(id), "SELECT ?", []any{map[string]any{"a": 1}}, sqlLim)
		wantErr(t, err, engine.ErrInvalid)
		_, err = s.SQLQuery(ctx, sqlScope(id), "  ;  ", nil, sqlLim)
		wantErr(t, err, engine.ErrInvalid)
		_, err = s.SQLQuery(ctx, sqlScope(id+"_missing"), "SELECT 1", nil, sqlLim)
		wantErr(t, err, engine.ErrNotFound)
		_, err = s.SQLQuery(ctx, sqlScope("../etc"), "SELECT 1", nil, sqlLim)
		wantErr(t, err, engine.ErrInvalid)
	}},
	{"sql isolation between plugins", func(t *testing.T, ctx context.Context, s *Store, id string) {
		a, b := id+"_a", id+"_b"
		install(t, ctx, s, a)
		install(t, ctx, s, b)
		_, err := s.SQLExec(ctx, sqlScope(a), "CREATE TABLE secrets (v TEXT)", nil, sqlLim)
		must(t, err)
		_, err = s.SQLExec(ctx, sqlScope(a), "INSERT INTO secrets (v) VALUES ('a-only')", nil, sqlLim)
		must(t, err)
		_, err = s.SQLQuery(ctx, sqlScope(b), "SELECT v FROM secrets", nil, sqlLim)
		if err == nil {
			t.Fatal("plugin b read plugin a's table")
		}
		_, err = s.SQLExec(ctx, sqlScope(b), "CREATE TABLE secrets (v TEXT)", nil, sqlLim)
		must(t, err)
		r, err := s.SQLQuery(ctx, sqlScope(b), "SELECT v FROM secrets", nil, sqlLim)
		must(t, err)
		if len(r.Rows) != 0 {
			t.Fatalf("plugin b sees %v", r.Rows)
		}
	}},
	{"sql isolation between servers", func(t *testing.T, ctx context.Context, s *Store, id string) {
		// Each (plugin, server) has its own database: what the plugin writes
		// for server 1 is invisible and unchangeable for server 2, whatever
		// the statement.
		install(t, ctx, s, id)
		one, two := engine.Scope{PluginID: id, ServerID: "1"}, engine.Scope{PluginID: id, ServerID: "2"}
		_, err := s.SQLExec(ctx, one, "CREATE TABLE notes (v TEXT)", nil, sqlLim)
		must(t, err)
		_, err = s.SQLExec(ctx, one, "INSERT INTO notes (v) VALUES ('server one only')", nil, sqlLim)
		must(t, err)
		_, err = s.SQLQuery(ctx, two, "SELECT v FROM notes", nil, sqlLim)
		wantErr(t, err, engine.ErrInvalid) // no such table
		_, err = s.SQLExec(ctx, two, "UPDATE notes SET v = 'rewritten'", nil, sqlLim)
		if err == nil {
			t.Fatal("server 2 updated server 1's table")
		}
		_, err = s.SQLExec(ctx, two, "CREATE TABLE notes (v TEXT)", nil, sqlLim)
		must(t, err)
		_, err = s.SQLExec(ctx, two, "UPDATE notes SET v = 'rewritten'", nil, sqlLim)
		must(t, err)
		r, err := s.SQLQuery(ctx, two, "SELECT v FROM notes", nil, sqlLim)
		must(t, err)
		if len(r.Rows) != 0 {
			t.Fatalf("server 2 sees %v", r.Rows)
		}
		r, err = s.SQLQuery(ctx, one, "SELECT v FROM notes", nil, sqlLim)
		must(t, err)
		if fmt.Sprint(r.Rows) != "[[server one only]]" {
			t.Fatalf("server 1's rows after server 2's statements: %v", r.Rows)
		}
		// Deleting the plugin deletes every server's database.
		must(t, s.DeletePlugin(ctx, id))
		install(t, ctx, s, id)
		for _, sc := range []engine.Scope{one, two} {
			_, err = s.SQLQuery(ctx, sc, "SELECT v FROM notes", nil, sqlLim)
			wantErr(t, err, engine.ErrInvalid)
		}
		must(t, s.DeletePlugin(ctx, id))
		switch p := s.sql.(type) {
		case *sqlitePluginSQL:
			if _, err := os.Stat(filepath.Join(p.dir, id)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("plugin sql directory left after delete: %v", err)
			}
		case *pgPluginSQL:
			var n int
			must(t, s.rdb.GetContext(ctx, &n, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE $1", "maid_p_"+id+".%"))
			if n != 0 {
				t.Fatalf("%d plugin schemas left after delete", n)
			}
		}
	}},
	{"sql handles bounded", func(t *testing.T, ctx context.Context, s *Store, id string) {
		// There can be thousands of servers: at most maxOpen scopes keep an
		// open database handle (SQLite file, PostgreSQL pool); the least
		// recently used are closed and reopened on demand, data intact.
		install(t, ctx, s, id)
		open := func() int { return 0 }
		switch p := s.sql.(type) {
		case *sqlitePluginSQL:
			p.mu.Lock()
			old := p.maxOpen
			p.maxOpen = 3
			p.mu.Unlock()
			t.Cleanup(func() { p.mu.Lock(); p.maxOpen = old; p.mu.Unlock() })
			open = p.openCount
		case *pgPluginSQL:
			p.mu.Lock()
			old := p.maxOpen
			p.maxOpen = 3
			p.mu.Unlock()
			t.Cleanup(func() { p.mu.Lock(); p.maxOpen = old; p.mu.Unlock() })
			open = func() int {
				p.mu.Lock()
				defer p.mu.Unlock()
				n := 0
				for k := range p.pools {
					if k.plugin == id {
						n++
					}
				}
				return n
			}
		}
		for round := range 2 {
			for i := range 8 {
				sc := engine.Scope{PluginID: id, ServerID: fmt.Sprintf("s%d", i)}
				if round == 0 {
					_, err := s.SQLExec(ctx, sc, "CREATE TABLE t (v INTEGER)", nil, sqlLim)
					must(t, err)
				}
				_, err := s.SQLExec(ctx, sc, "INSERT INTO t (v) VALUES (?)", []any{int64(i)}, sqlLim)
				must(t, err)
				if n := open(); n > 3 {
					t.Fatalf("%d handles open, want at most 3", n)
				}
			}
		}
		for i := range 8 {
			r, err := s.SQLQuery(ctx, engine.Scope{PluginID: id, ServerID: fmt.Sprintf("s%d", i)}, "SELECT count(*), min(v), max(v) FROM t", nil, sqlLim)
			must(t, err)
			if fmt.Sprint(r.Rows) != fmt.Sprintf("[[2 %d %d]]", i, i) {
				t.Fatalf("server s%d after its handle was closed and reopened: %v", i, r.Rows)
			}
		}
	}},
	{"sql read only", func(t *testing.T, ctx context.Context, s *Store, id string) {
		// A read-only call cannot change the database by any statement the
		// plugin's SQL check lets through.
		install(t, ctx, s, id)
		_, err := s.SQLExec(ctx, sqlScope(id), "CREATE TABLE notes (v TEXT)", nil, sqlLim)
		must(t, err)
		_, err = s.SQLExec(ctx, sqlScope(id), "INSERT INTO notes (v) VALUES ('kept')", nil, sqlLim)
		must(t, err)
		ro := sqlLim
		ro.ReadOnly = true
		for _, q := range []string{
			"INSERT INTO notes (v) VALUES ('x') RETURNING v",
			"WITH w AS (INSERT INTO notes (v) VALUES ('x') RETURNING v) SELECT v FROM w",
			"DELETE FROM notes RETURNING v",
			"UPDATE notes SET v = 'x' RETURNING v",
			"CREATE TABLE evil (x INTEGER)",
			"DROP TABLE notes",
		} {
			_, err := s.SQLQuery(ctx, sqlScope(id), q, nil, ro)
			if err == nil || !errors.Is(err, engine.ErrSQLDenied) && !strings.Contains(err.Error(), "read") {
				t.Errorf("read-only %q: %v, want a refusal", q, err)
			}
			_, err = s.SQLExec(ctx, sqlScope(id), q, nil, ro)
			if err == nil {
				t.Errorf("read-only exec %q succeeded", q)
			}
		}
		r, err := s.SQLQuery(ctx, sqlScope(id), "SELECT v FROM notes", nil, ro)
		must(t, err)
		if fmt.Sprint(r.Rows) != "[[kept]]" {
			t.Fatalf("rows after read-only writes: %v", r.Rows)
		}
		// The next read-write call writes again.
		_, err = s.SQLExec(ctx, sqlScope(id), "INSERT INTO notes (v) VALUES ('second')", nil, sqlLim)
		must(t, err)
	}},
	{"sql limits", func(t *testing.T, ctx context.Context, s *Store, id string) {
		install(t, ctx, s, id)
		_, err := s.SQLExec(ctx, sqlScope(id), "CREATE TABLE t (v TEXT)", nil, sqlLim)
		must(t, err)
		for i := range 20 {
			_, err := s.SQLExec(ctx, sqlScope(id), "INSERT INTO t (v) VALUES (?)", []any{strings.Repeat("x", 100) + fmt.Sprint(i)}, sqlLim)
			must(t, err)
		}
		lim := sqlLim
		lim.MaxRows = 10
		_, err = s.SQLQuery(ctx, sqlScope(id), "SELECT v FROM t", nil, lim)
		wantErr(t, err, engine.ErrSQLLimit)
		_, err = s.SQLQuery(ctx, sqlScope(id), "SELECT v FROM t LIMIT 10", nil, lim)
		must(t, err)
		lim = sqlLim
		lim.MaxBytes = 1000
		_, err = s.SQLQuery(ctx, sqlScope(id), "SELECT v FROM t", nil, lim)
		wantErr(t, err, engine.ErrSQLLimit)
		// The byte cap counts values as JSON encodes them: 100,000 '<'
		// are 600,000 bytes of \u003c.
		lim = sqlLim
		lim.MaxBytes = 200_000
		_, err = s.SQLQuery(ctx, sqlScope(id), "SELECT ? AS v", []any{strings.Repeat("<", 100_000)}, lim)
		wantErr(t, err, engine.ErrSQLLimit)
		_, err = s.SQLQuery(ctx, sqlScope(id), "SELECT ? AS v", []any{strings.Repeat("a", 100_000)}, lim)
		must(t, err)
		if s.d == dialectSQLite { // PostgreSQL cuts names to 63 bytes
			// Huge column names are refused too (SQLite applies the
			// length limit to them; readRows also counts them).
			_, err = s.SQLQuery(ctx, sqlScope(id), `SELECT 1 AS "`+strings.Repeat("n", 300_000)+`"`, nil, lim)
			wantErr(t, err, engine.ErrSQLLimit)
		}
		lim = sqlLim
		lim.Timeout = 200 * time.Millisecond
		_, err = s.SQLQuery(ctx, sqlScope(id), "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", nil, lim)
		wantErr(t, err, engine.ErrSQLLimit)
		// The database still works after a timeout.
		_, err = s.SQLQuery(ctx, sqlScope(id), "SELECT count(*) FROM t", nil, sqlLim)
		must(t, err)
	}},
	{"sql database size limit", func(t *testing.T, ctx context.Context, s *Store, id string) {
		install(t, ctx, s, id)
		lim := sqlLim
		lim.MaxDBBytes = 1 << 20
		_, err := s.SQLExec(ctx, sqlScope(id), "CREATE TABLE blobs (v TEXT)", nil, lim)
		must(t, err)
		var limited error
		for i := 0; i < 100 && limited == nil; i++ {
			// 64 KiB of incompressible-enough text per row.
			_, limited = s.SQLExec(ctx, sqlScope(id), "INSERT INTO blobs (v) VALUES (?)", []any{randText(64 << 10)}, lim)
		}
		wantErr(t, limited, engine.ErrSQLLimit)
		// Deleting still works when full.
		_, err = s.SQLExec(ctx, sqlScope(id), "DELETE FROM blobs", nil, lim)
		must(t, err)
	}},
	{"sql denied statements", func(t *testing.T, ctx context.Context, s *Store, id string) {
		install(t, ctx, s, id)
		_, err := s.SQLExec(ctx, sqlScope(id), "CREATE TABLE t (v INTEGER)", nil, sqlLim)
		must(t, err)
		for _, q := range []string{
			"SELECT 1; SELECT 2",
			"INSERT INTO t VALUES (1); DROP TABLE t",
			"ATTACH DATABASE 'x.db' AS x",
			"PRAGMA max_page_count = 1000000000",
			"BEGIN",
			"COMMIT",
			"SET ROLE postgres",
			"RESET ROLE",
			"COPY t TO '/tmp/x'",
			"DO $$ BEGIN END $$",
			"VACUUM",
			"CREATE TEMP TABLE x (v INTEGER)",
			"GRANT SELECT ON t TO PUBLIC",
		} {
			_, err := s.SQLExec(ctx, sqlScope(id), q, nil, sqlLim)
			if !errors.Is(err, engine.ErrSQLDenied) {
				t.Errorf("%q: got %v, want ErrSQLDenied", q, err)
			}
		}
		r, err := s.SQLQuery(ctx, sqlScope(id), "SELECT count(*) FROM t", nil, sqlLim)
		must(t, err)
		if r.Rows[0][0] != int64(0) {
			t.Fatalf("a denied statement wrote: %v", r.Rows)
		}
	}},
}

func randText(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	x := uint64(time.Now().UnixNano()) | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = alphabet[x%uint64(len(alphabet))]
	}
	return string(b)
}
