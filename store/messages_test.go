package store

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/maidhq/maid/engine"
)

// TestSentMessagesOwnedPerPluginAndServer guards the record that keeps a
// plugin from editing or deleting another plugin's messages (attack Q1):
// an id is the sending plugin's on its server only, the newest keep per
// (plugin, server) are kept (the oldest forgotten), concurrent records of
// one scope all land, and the record goes with the plugin. On both dialects.
func TestSentMessagesOwnedPerPluginAndServer(t *testing.T) {
	eachBackend(t, func(t *testing.T, ctx context.Context, s *Store) {
		a, b := "msgs_a_"+s.d.String(), "msgs_b_"+s.d.String()
		install(t, ctx, s, a)
		install(t, ctx, s, b)
		for i := range 5 {
			must(t, s.RecordMessage(ctx, engine.Scope{PluginID: a, ServerID: "1"}, fmt.Sprintf("10%d", i), 3))
		}
		must(t, s.RecordMessage(ctx, engine.Scope{PluginID: b, ServerID: "1"}, "200", 3))
		for _, tc := range []struct {
			name, plugin, server, id string
			want                     bool
		}{
			{name: "newest kept", plugin: a, server: "1", id: "104", want: true},
			{name: "third newest kept", plugin: a, server: "1", id: "102", want: true},
			{name: "oldest forgotten past keep", plugin: a, server: "1", id: "101"},
			{name: "another plugin's message", plugin: a, server: "1", id: "200"},
			{name: "own message seen by the other plugin", plugin: b, server: "1", id: "104"},
			{name: "own message on another server", plugin: a, server: "2", id: "104"},
			{name: "never sent", plugin: b, server: "1", id: "999"},
		} {
			got, err := s.SentMessage(ctx, engine.Scope{PluginID: tc.plugin, ServerID: tc.server}, tc.id)
			must(t, err)
			if got != tc.want {
				t.Errorf("%s: SentMessage(%s, %s, %s) = %v, want %v", tc.name, tc.plugin, tc.server, tc.id, got, tc.want)
			}
		}
		// Whose is it, asked by another plugin (a reaction one added first
		// is not another's to claim).
		for _, tc := range []struct {
			name, plugin, server, id string
			want                     bool
		}{
			{name: "the other plugin's message", plugin: a, server: "1", id: "200", want: true},
			{name: "own message only", plugin: b, server: "1", id: "200"},
			{name: "a's message asked by b", plugin: b, server: "1", id: "104", want: true},
			{name: "another server", plugin: a, server: "2", id: "200"},
			{name: "forgotten past keep", plugin: b, server: "1", id: "101"},
		} {
			got, err := s.RecordedByOther(ctx, engine.Scope{PluginID: tc.plugin, ServerID: tc.server}, tc.id)
			must(t, err)
			if got != tc.want {
				t.Errorf("%s: RecordedByOther(%s, %s, %s) = %v, want %v", tc.name, tc.plugin, tc.server, tc.id, got, tc.want)
			}
		}
		// A forgotten id is no longer the plugin's; the ring goes on.
		must(t, s.ForgetMessage(ctx, engine.Scope{PluginID: a, ServerID: "1"}, "104"))
		if ok, err := s.SentMessage(ctx, engine.Scope{PluginID: a, ServerID: "1"}, "104"); err != nil || ok {
			t.Errorf("a forgotten id: SentMessage = %v, %v; want false", ok, err)
		}
		must(t, s.RecordMessage(ctx, engine.Scope{PluginID: a, ServerID: "1"}, "105", 3))
		if ok, err := s.SentMessage(ctx, engine.Scope{PluginID: a, ServerID: "1"}, "105"); err != nil || !ok {
			t.Errorf("an id recorded after a forget: SentMessage = %v, %v; want true", ok, err)
		}
		// Concurrent sends of one scope each get a slot of their own.
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- s.RecordMessage(ctx, engine.Scope{PluginID: b, ServerID: "3"}, fmt.Sprintf("30%d", i), 100)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			must(t, err)
		}
		for i := range 8 {
			if ok, err := s.SentMessage(ctx, engine.Scope{PluginID: b, ServerID: "3"}, fmt.Sprintf("30%d", i)); err != nil || !ok {
				t.Errorf("concurrently recorded 30%d: %v, %v", i, ok, err)
			}
		}
		must(t, s.DeletePlugin(ctx, a))
		install(t, ctx, s, a)
		if ok, _ := s.SentMessage(ctx, engine.Scope{PluginID: a, ServerID: "1"}, "104"); ok {
			t.Error("a reinstalled plugin owns the messages of the one uninstalled")
		}
	})
}
