package engine

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/maidhq/maid/plugin"
)

// documentedMethods reads the plugin→host table of docs/protocol.md:
// method → capability ("" for none).
func documentedMethods(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| (`[a-z_.]+`(?: / `[a-z_.]+`)*) \\|.*\\| (none|`[a-z_:]+`) \\|$")
	name := regexp.MustCompile("`([a-z_.]+)`")
	out := map[string]string{}
	section := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			section = strings.Contains(line, "Plugin → host")
			continue
		}
		m := row.FindStringSubmatch(line)
		if !section || m == nil {
			continue
		}
		capName := strings.Trim(m[2], "`")
		if capName == "none" {
			capName = ""
		}
		for _, n := range name.FindAllStringSubmatch(m[1], -1) {
			out[n[1]] = capName
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no host methods found in docs/protocol.md's \"Plugin → host\" table")
	}
	return out
}

// TestHostMethodTable: the table is every host method docs/protocol.md
// documents, with the documented capability, each with a handler; the
// bridge's allow-list is the table's; and each discord.* method's required
// params name real fields.
func TestHostMethodTable(t *testing.T) {
	docs := documentedMethods(t)
	for name, capName := range docs {
		m, ok := hostMethods[name]
		switch {
		case !ok:
			t.Errorf("docs/protocol.md documents %s; the host method table has no such method", name)
		case m.capability != capName:
			t.Errorf("%s needs capability %q in the table, %q in docs/protocol.md", name, m.capability, capName)
		}
	}
	for name, m := range hostMethods {
		if _, ok := docs[name]; !ok {
			t.Errorf("the host method table has %s; docs/protocol.md does not document it", name)
		}
		if m.serve == nil {
			t.Errorf("%s has no handler", name)
		}
		// An inline call runs on the guest's goroutine: it must never
		// wait for the large-message budget (rpc.Options.Inline).
		if m.inline && (m.large || m.bridge != bridgeWrite || m.anytime) {
			t.Errorf("%s is inline but large, not a store write, or anytime", name)
		}
	}

	// The bridge: spec 000 gives the dashboard iframe kv, metrics reads
	// and sql; read_only keeps the reading ones.
	var reads, writes []string
	for name, m := range hostMethods {
		switch m.bridge {
		case bridgeRead:
			reads = append(reads, name)
		case bridgeWrite:
			writes = append(writes, name)
		}
	}
	sort.Strings(reads)
	sort.Strings(writes)
	wantReads := []string{"kv.count", "kv.get", "kv.get_many", "kv.list", "metrics.query", "metrics.total", "sql.query"}
	wantWrites := []string{"kv.delete", "kv.set", "kv.set_many", "sql.execute"}
	if strings.Join(reads, " ") != strings.Join(wantReads, " ") || strings.Join(writes, " ") != strings.Join(wantWrites, " ") {
		t.Errorf("bridge reads %v, writes %v; want reads %v, writes %v", reads, writes, wantReads, wantWrites)
	}
	// HostCall takes its allow-list from the table: what the table keeps
	// from the bridge is refused before the plugin is even looked up, and
	// the rest gets as far as the lookup.
	e := &Engine{deps: &deps{}, sups: map[string]*supervisor{}}
	for name, m := range hostMethods {
		_, err := e.HostCall(context.Background(), "absent", "1", name, nil)
		want := ErrNotFound
		if m.bridge == bridgeNever {
			want = ErrCapability
		}
		if !errors.Is(err, want) {
			t.Errorf("bridge %s: err = %v, want %v", name, err, want)
		}
	}

	// Every discord.* method runs with all its params present, and names
	// the missing one when it is not.
	all := json.RawMessage(`{"channel_id": "c", "message_id": "m", "content": "x", "emoji": "e", "user_id": "u", "role_id": "r"}`)
	s := &supervisor{id: "p", pkg: &plugin.Package{}}
	for name, m := range hostMethods {
		if !strings.HasPrefix(name, "discord.") {
			continue
		}
		c := hostCall{d: &deps{discord: okDiscord{}, store: sentStore{}}, s: s, scope: callScope{serverID: "1"}}
		if _, err := m.serve(context.Background(), c, all); err != nil {
			t.Errorf("%s with every param: %v", name, err)
		}
		if _, err := m.serve(context.Background(), c, json.RawMessage(`{}`)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s without params: err = %v, want %v", name, err, ErrInvalid)
		}
		c.d = &deps{}
		if _, err := m.serve(context.Background(), c, all); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s without a Discord port: err = %v, want %v", name, err, ErrUnavailable)
		}
	}
}

// sentStore says every message was the caller's: the table test checks
// params, not ownership (TestPluginTouchesOnlyItsOwnMessages does).
type sentStore struct{ Store }

func (sentStore) RecordMessage(context.Context, Scope, string, int) error { return nil }
func (sentStore) SentMessage(context.Context, Scope, string) (bool, error) {
	return true, nil
}
func (sentStore) RecordedByOther(context.Context, Scope, string) (bool, error) {
	return false, nil
}
func (sentStore) ForgetMessage(context.Context, Scope, string) error { return nil }

// memMessages is a MessageStore in memory.
type memMessages struct {
	Store
	mu   sync.Mutex
	sent map[Scope][]string
}

func (m *memMessages) RecordMessage(_ context.Context, s Scope, id string, _ int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent[s] = append(m.sent[s], id)
	return nil
}

func (m *memMessages) SentMessage(_ context.Context, s Scope, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Contains(m.sent[s], id), nil
}

func (m *memMessages) ForgetMessage(_ context.Context, s Scope, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent[s] = slices.DeleteFunc(m.sent[s], func(x string) bool { return x == id })
	return nil
}

func (m *memMessages) RecordedByOther(_ context.Context, s Scope, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for o, ids := range m.sent {
		if o.ServerID == s.ServerID && o.PluginID != s.PluginID && slices.Contains(ids, id) {
			return true, nil
		}
	}
	return false, nil
}

// countDiscord counts the actions that reach Discord; its sends return
// fresh ids.
type countDiscord struct {
	okDiscord
	n atomic.Int64
}

func (d *countDiscord) SendMessage(context.Context, string, OutMessage) (string, error) {
	return fmt.Sprint(900 + d.n.Add(1)), nil
}
func (d *countDiscord) EditMessage(context.Context, string, string, string, string) error {
	d.n.Add(1)
	return nil
}
func (d *countDiscord) DeleteMessage(context.Context, string, string, string) error {
	d.n.Add(1)
	return nil
}
func (d *countDiscord) AddReaction(context.Context, string, string, string, string) error {
	d.n.Add(1)
	return nil
}
func (d *countDiscord) RemoveReaction(context.Context, string, string, string, string) error {
	d.n.Add(1)
	return nil
}

// TestPluginTouchesOnlyItsOwnMessages guards the rule that a plugin may
// edit and delete (and remove the bot's reactions from) only messages its
// own send_message returned on that server, and remove elsewhere only the
// reactions it added first (attack Q1): every plugin's messages and
// reactions are the bot's to Discord, so the engine's record is the only
// thing telling them apart. Refusals are ErrForbidden, name the message
// and the rule, and never reach Discord; add_reaction stays open.
func TestPluginTouchesOnlyItsOwnMessages(t *testing.T) {
	ctx := context.Background()
	dc := &countDiscord{}
	d := &deps{discord: dc, store: &memMessages{sent: map[Scope][]string{}}}
	call := func(pluginID, server string) hostCall {
		return hostCall{d: d, s: &supervisor{id: pluginID, pkg: &plugin.Package{}}, scope: callScope{serverID: server}}
	}
	res, err := hostMethods["discord.send_message"].serve(ctx, call("a", "1"), json.RawMessage(`{"channel_id": "5", "content": "scores"}`))
	if err != nil {
		t.Fatal(err)
	}
	id := res.(map[string]any)["id"].(string)
	const member = "777" // a member's message
	for _, tc := range []struct {
		name, method, plugin, server string
		message, emoji               string // "": a's message, "e"
		wantErr                      error
	}{
		{name: "another plugin edits", method: "discord.edit_message", plugin: "b", server: "1", wantErr: ErrForbidden},
		{name: "another plugin deletes", method: "discord.delete_message", plugin: "b", server: "1", wantErr: ErrForbidden},
		{name: "another plugin removes the bot's reaction", method: "discord.remove_reaction", plugin: "b", server: "1", wantErr: ErrForbidden},
		{name: "the sender on another server", method: "discord.edit_message", plugin: "a", server: "2", wantErr: ErrForbidden},
		{name: "another plugin adds a reaction", method: "discord.add_reaction", plugin: "b", server: "1"},
		{name: "and cannot remove it: the message is a's", method: "discord.remove_reaction", plugin: "b", server: "1", wantErr: ErrForbidden},
		{name: "a marks a member's message", method: "discord.add_reaction", plugin: "a", server: "1", message: member},
		{name: "another plugin removes a's mark", method: "discord.remove_reaction", plugin: "b", server: "1", message: member, wantErr: ErrForbidden},
		{name: "another plugin adds the same mark", method: "discord.add_reaction", plugin: "b", server: "1", message: member},
		{name: "and still cannot remove it: a's came first", method: "discord.remove_reaction", plugin: "b", server: "1", message: member, wantErr: ErrForbidden},
		{name: "a removes a reaction it did not add", method: "discord.remove_reaction", plugin: "a", server: "1", message: member, emoji: "f", wantErr: ErrForbidden},
		{name: "a removes its mark", method: "discord.remove_reaction", plugin: "a", server: "1", message: member},
		{name: "the sender edits", method: "discord.edit_message", plugin: "a", server: "1"},
		{name: "the sender removes its reaction", method: "discord.remove_reaction", plugin: "a", server: "1"},
		{name: "the sender deletes", method: "discord.delete_message", plugin: "a", server: "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := dc.n.Load()
			msg := cmp.Or(tc.message, id)
			params := json.RawMessage(fmt.Sprintf(`{"channel_id": "5", "message_id": %q, "content": "x", "emoji": %q}`, msg, cmp.Or(tc.emoji, "e")))
			_, err := hostMethods[tc.method].serve(ctx, call(tc.plugin, tc.server), params)
			if !errors.Is(err, tc.wantErr) && !(tc.wantErr == nil && err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			reached := dc.n.Load() != before
			if tc.wantErr != nil {
				if reached {
					t.Error("the refused action reached Discord")
				}
				if e := err.Error(); !strings.Contains(e, msg) || !strings.Contains(e, "a plugin may edit and delete only messages it sent") {
					t.Errorf("error %q does not name message %s and the rule", e, msg)
				}
			} else if !reached {
				t.Error("the allowed action did not reach Discord")
			}
		})
	}
}

// okDiscord accepts every action.
type okDiscord struct{}

func (okDiscord) SendMessage(context.Context, string, OutMessage) (string, error) { return "1", nil }
func (okDiscord) EditMessage(context.Context, string, string, string, string) error {
	return nil
}
func (okDiscord) DeleteMessage(context.Context, string, string, string) error { return nil }
func (okDiscord) AddReaction(context.Context, string, string, string, string) error {
	return nil
}
func (okDiscord) RemoveReaction(context.Context, string, string, string, string) error {
	return nil
}
func (okDiscord) AddRole(context.Context, string, string, string) error    { return nil }
func (okDiscord) RemoveRole(context.Context, string, string, string) error { return nil }
func (okDiscord) GetMember(context.Context, string, string) (json.RawMessage, error) {
	return json.RawMessage(`{}`), nil
}
