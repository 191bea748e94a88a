package discord

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/maidhq/maid/engine"
)

func TestEventFromDispatch(t *testing.T) {
	allowed := allowSet(nil)
	big := `{"id":"5","name":"g","members":[` + strings.Repeat(`{"user":{"id":"1"}},`, maxForwardBytes/18) + `{}]}`
	for _, tc := range []struct {
		name, typ, raw string
		ok             bool
		wantErr        bool
		server, evType string
	}{
		{name: "message", typ: "MESSAGE_CREATE", raw: `{"id":"9","guild_id":"42","content":"x"}`, ok: true, server: "42", evType: "message_create"},
		{name: "guild_create uses id", typ: "GUILD_CREATE", raw: `{"id":"42","name":"g"}`, ok: true, server: "42", evType: "guild_create"},
		{name: "guild_delete uses id", typ: "GUILD_DELETE", raw: `{"id":"42","unavailable":true}`, ok: true, server: "42", evType: "guild_delete"},
		{name: "member add uses guild_id", typ: "GUILD_MEMBER_ADD", raw: `{"guild_id":"42","user":{"id":"1"}}`, ok: true, server: "42", evType: "guild_member_add"},
		{name: "role uses guild_id", typ: "GUILD_ROLE_CREATE", raw: `{"guild_id":"42","role":{"id":"1"}}`, ok: true, server: "42", evType: "guild_role_create"},
		{name: "dm is skipped", typ: "MESSAGE_CREATE", raw: `{"id":"9","channel_id":"1"}`},
		{name: "not forwarded", typ: "PRESENCE_UPDATE", raw: `{"guild_id":"42"}`},
		{name: "typing not forwarded", typ: "TYPING_START", raw: `{"guild_id":"42"}`},
		{name: "array payload", typ: "MESSAGE_CREATE", raw: `[1]`, wantErr: true},
		{name: "bad guild id", typ: "MESSAGE_CREATE", raw: `{"guild_id":"../x"}`, wantErr: true},
		{name: "numeric guild id is not a server", typ: "MESSAGE_CREATE", raw: `{"guild_id":42}`},
		{name: "big guild trimmed", typ: "GUILD_CREATE", raw: big, ok: true, server: "5", evType: "guild_create"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, ok, err := eventFromDispatch(tc.typ, []byte(tc.raw), allowed)
			if (err != nil) != tc.wantErr || ok != tc.ok {
				t.Fatalf("ok=%v err=%v; want ok=%v err=%v", ok, err, tc.ok, tc.wantErr)
			}
			if !ok {
				return
			}
			if ev.ServerID != tc.server || ev.Type != tc.evType {
				t.Errorf("event %s/%s, want %s/%s", ev.Type, ev.ServerID, tc.evType, tc.server)
			}
			if len(ev.Data) > maxForwardBytes || !json.Valid(ev.Data) {
				t.Errorf("payload of %d bytes, valid=%v", len(ev.Data), json.Valid(ev.Data))
			}
		})
	}
}

func TestParseIntents(t *testing.T) {
	def, err := ParseIntents("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in string
		want     int
		wantErr  bool
	}{
		{name: "default", in: "default", want: def},
		{name: "names", in: "guilds, guild_messages", want: 1 | 1<<9},
		{name: "bitmask", in: "513", want: 513},
		{name: "default plus", in: "default,guild_presences", want: def | 1<<8},
		{name: "unknown", in: "guilds,everything", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseIntents(tc.in)
			if tc.wantErr {
				if !errors.Is(err, engine.ErrInvalid) || !strings.Contains(err.Error(), "everything") {
					t.Errorf("err = %v, want ErrInvalid naming the intent", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestParseShards(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		count    int
		want     []int
	}{
		{name: "one", in: "0", count: 1, want: []int{0}},
		{name: "list and range", in: "3,0-1,1", count: 4, want: []int{0, 1, 3}},
		{name: "out of range", in: "0-4", count: 4},
		{name: "garbage", in: "a", count: 4},
		{name: "reversed", in: "3-1", count: 4},
		{name: "no count", in: "0", count: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseShards(tc.in, tc.count)
			if tc.want == nil {
				if !errors.Is(err, engine.ErrInvalid) {
					t.Errorf("got %v, %v; want ErrInvalid", got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestReactionEmoji(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{name: "unicode", in: "👍", want: "👍"},
		{name: "zwj sequence", in: "👩‍💻", want: "👩‍💻"},
		{name: "keycap", in: "#️⃣", want: "#️⃣"},
		{name: "custom", in: "party:123", want: "party:123"},
		{name: "custom mention", in: "<:party:123>", want: "party:123"},
		{name: "animated", in: "<a:party:123>", want: "party:123"},
		{name: "path", in: "../../x"},
		{name: "query", in: "👍?x=1"},
		{name: "space", in: "👍 "},
		{name: "empty", in: ""},
		{name: "letters", in: "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := reactionEmoji(tc.in)
			if tc.want == "" {
				if !errors.Is(err, engine.ErrInvalid) {
					t.Errorf("got %q, %v; want ErrInvalid", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func FuzzEventFromDispatch(f *testing.F) {
	f.Add("MESSAGE_CREATE", []byte(`{"guild_id":"42","content":"x"}`))
	f.Add("GUILD_CREATE", []byte(`{"id":"42"}`))
	f.Add("GUILD_MEMBER_ADD", []byte(`{"guild_id":"4/2"}`))
	f.Add("INTERACTION_CREATE", []byte(`{"guild_id":null}`))
	allowed := allowSet(nil)
	f.Fuzz(func(t *testing.T, typ string, raw []byte) {
		ev, ok, err := eventFromDispatch(typ, raw, allowed)
		if !ok {
			return
		}
		if err != nil {
			t.Fatal("ok with an error")
		}
		if !snowflakeRe.MatchString(ev.ServerID) || !allowed[ev.Type] {
			t.Fatalf("event %s for server %q", ev.Type, ev.ServerID)
		}
		if len(ev.Data) == 0 || ev.Data[0] != '{' || !json.Valid(ev.Data) {
			t.Fatalf("payload %q is not a JSON object", ev.Data)
		}
	})
}

func FuzzReactionEmoji(f *testing.F) {
	for _, s := range []string{"👍", "party:1", "<a:x:1>", "../x", "#️⃣", "%2F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := reactionEmoji(in)
		if err != nil {
			return
		}
		if strings.ContainsAny(out, "/?%\\ \t\r\n") || strings.Contains(out, "..") {
			t.Fatalf("%q became path segment %q", in, out)
		}
	})
}

func FuzzParseIntentsAndShards(f *testing.F) {
	f.Add("guilds,guild_messages", 4)
	f.Add("0-3", 2)
	f.Fuzz(func(t *testing.T, s string, count int) {
		if n, err := ParseIntents(s); err == nil && n < 0 {
			t.Fatalf("negative intents %d", n)
		}
		if count > 1<<16 {
			return
		}
		ids, err := ParseShards(s, count)
		if err != nil {
			return
		}
		for i, id := range ids {
			if id < 0 || id >= count || (i > 0 && ids[i-1] >= id) {
				t.Fatalf("shards %v for count %d", ids, count)
			}
		}
	})
}
