package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
)

// TestRecordings: recordings are kept per (plugin, server), newest first,
// bounded by keep (the oldest go), fetched only with their own plugin and
// server, and removed with the plugin; the record-all switch round-trips.
// On both dialects.
func TestRecordings(t *testing.T) {
	eachBackend(t, func(t *testing.T, ctx context.Context, s *Store) {
		id := "recordings_" + s.d.String()
		install(t, ctx, s, id)
		base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		for i := range 5 {
			info := engine.RecordingInfo{ID: fmt.Sprintf("r%d", i), PluginID: id, ServerID: "1", Time: base.Add(time.Duration(i) * time.Second), What: "event message_create", Failed: i%2 == 0}
			must(t, s.PutRecording(ctx, info, []byte(fmt.Sprintf(`{"n": %d}`, i)), 3))
		}
		must(t, s.PutRecording(ctx, engine.RecordingInfo{ID: "other", PluginID: id, ServerID: "2", Time: base, What: "event x"}, []byte(`{}`), 3))
		list, err := s.ListRecordings(ctx, id, "1")
		must(t, err)
		var got []string
		for _, r := range list {
			got = append(got, r.ID)
		}
		if fmt.Sprint(got) != "[r4 r3 r2]" {
			t.Fatalf("kept %v, want [r4 r3 r2]", got)
		}
		info, body, err := s.GetRecording(ctx, id, "1", "r4")
		must(t, err)
		if string(body) != `{"n": 4}` || !info.Failed || info.Bytes != len(body) || !info.Time.Equal(base.Add(4*time.Second)) {
			t.Fatalf("r4 = %+v %s", info, body)
		}
		for _, tc := range []struct{ server, id string }{{"2", "r4"}, {"1", "r0"}, {"1", "other"}} {
			if _, _, err := s.GetRecording(ctx, id, tc.server, tc.id); !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("recording %s via server %s: err = %v, want ErrNotFound", tc.id, tc.server, err)
			}
		}
		on, err := s.RecordAll(ctx, id, "1")
		must(t, err)
		if on {
			t.Fatal("record all on by default")
		}
		must(t, s.SetRecordAll(ctx, id, "1", true))
		if on, _ = s.RecordAll(ctx, id, "1"); !on {
			t.Fatal("record all not on after SetRecordAll")
		}
		if on, _ = s.RecordAll(ctx, id, "2"); on {
			t.Fatal("record all leaked to another server")
		}
		must(t, s.DeletePlugin(ctx, id))
		if list, _ := s.ListRecordings(ctx, id, "1"); len(list) != 0 {
			t.Fatalf("recordings survive the plugin: %v", list)
		}
	})
}
