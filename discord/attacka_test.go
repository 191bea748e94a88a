package discord_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/discord/fakediscord"
	"github.com/maidhq/maid/engine"
)

// Attack A: a plugin with discord:send_messages names a fresh channel id in
// every discord.send_message (the engine passes channel_id through as the
// plugin wrote it; only "present" is checked). Each id unknown to the
// gateway's state costs one REST lookup (GET /channels/{id}) on the bot's
// shared REST budget, and a failed lookup is not remembered, so the plugin
// alone decides how many requests the bot makes: every other plugin and
// server shares the bot's global rate limit with it, and on real Discord
// the 403s for channels of guilds the bot is not in count towards the
// invalid-request limit (10,000 per 10 minutes) that bans the bot's IP.
// The secure behaviour: lookups a plugin triggers on behalf of one server
// are bounded (cached negatively and/or rate limited), whatever ids it
// invents.
func TestAttackA_UnknownChannelLookupsUnbounded(t *testing.T) {
	env := startGateway(t, discord.GatewayConfig{}, nil)
	eventually(t, "ready", func() bool { return env.gw.Stats().Shards == 1 && len(mustServers(t, env.gw)) == 2 })
	ctx := context.Background()
	const tries = 300
	refused := 0
	for i := 0; i < tries; i++ {
		// What discordSend does for {"channel_id": id, "content": "x"} on guild1.
		id := fmt.Sprintf("5400000000%08d", i)
		if _, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: id, Content: "x"}); err != nil {
			refused++
		}
	}
	if refused != tries {
		t.Fatalf("%d of %d sends to unknown channels refused, want all", refused, tries)
	}
	lookups := len(requests(env.fake, "GET", "/channels/54"))
	t.Logf("%d sends to invented channel ids made %d Discord REST lookups", tries, lookups)
	if lookups > 30 {
		t.Errorf("one plugin's %d sends to invented channel ids made %d Discord REST requests (want a bound, e.g. at most 30): the bot's shared rate limit and invalid-request budget are the plugin's to spend", tries, lookups)
	}
	// The same id again costs another request: failures are not remembered.
	before := len(requests(env.fake, "GET", "/channels/5400000000"+"00000000"))
	for i := 0; i < 20; i++ {
		_, _ = env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: "540000000000000000", Content: "x"})
	}
	if again := len(requests(env.fake, "GET", "/channels/540000000000000000")) - before; again > 1 {
		t.Errorf("the same unknown channel looked up %d more times for 20 sends: a failed lookup is not remembered", again)
	}
}

// Attack A: slash commands are registered globally and each name is routed
// to the installed plugin whose id sorts first (commandSet), whatever the
// servers it is enabled on. A plugin whose id sorts before another's and
// declares the same command name ("a-squat" against "one", both "ping")
// takes that command from every server: where it is not enabled the
// command answers "not enabled on this server", where it is, it answers in
// the other plugin's place. The secure behaviour: /ping on guild1 reaches
// the plugin enabled on guild1 that declares it.
func TestAttackA_CommandNameSquatting(t *testing.T) {
	env := startGateway(t, discord.GatewayConfig{}, func(_ *fakediscord.Server, eng *engine.Engine) {
		install(t, eng, "one", allCaps, guild1)
		install(t, eng, "a-squat", onlyKV, guild2) // never enabled on guild1
	})
	f := env.fake
	eventually(t, "commands registered", func() bool { return len(requests(f, "PUT", "/applications/"+f.AppID+"/commands")) > 0 })
	id := f.Interaction(guild1, chan1, user1, "ping")
	cb := "/interactions/" + id + "/token-" + id + "/callback"
	eventually(t, "interaction answered", func() bool { return len(requests(f, "POST", cb)) > 0 })
	body := string(requests(f, "POST", cb)[0].Body)
	if want := "pong from " + guild1 + " by " + user1; !strings.Contains(body, want) {
		t.Errorf("/ping on guild1, where only plugin \"one\" is enabled, answered %s; want %q from \"one\" (plugin \"a-squat\", enabled elsewhere, owns the name on every server)", body, want)
	}
}

// Attack A: every installed plugin's commands go into one bulk overwrite
// of the application's global commands, which Discord refuses outright
// past 100 commands. A manifest may declare 25 (plugin.MaxCommands), so
// four plugins of 25 fill the bot's command space and a fifth makes every
// registration fail, for every plugin on every server (commands of plugins
// installed afterwards never appear). The secure behaviour: what maid
// registers stays within Discord's 100, and an honest plugin's command is
// in it.
func TestAttackA_CommandSpaceExhausted(t *testing.T) {
	env := startGateway(t, discord.GatewayConfig{}, func(_ *fakediscord.Server, eng *engine.Engine) {
		for p := 0; p < 5; p++ {
			dir := t.TempDir()
			var cmds []string
			for c := 0; c < 25; c++ {
				cmds = append(cmds, fmt.Sprintf(`{"name": "c%d-%d", "description": "x"}`, p, c))
			}
			manifest := fmt.Sprintf(`{"id": "a-fill%d", "name": "Fill", "version": "1.0.0", "script": "__main__.py", "commands": [%s]}`, p, strings.Join(cmds, ","))
			if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(manifest), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "__main__.py"), []byte("from maid_sdk import Plugin\nPlugin().run()\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := eng.InstallPath(context.Background(), dir); err != nil {
				t.Fatal(err)
			}
		}
		install(t, eng, "one", allCaps, guild1)
	})
	f := env.fake
	eventually(t, "commands registered", func() bool { return len(requests(f, "PUT", "/applications/"+f.AppID+"/commands")) > 0 })
	reg := requests(f, "PUT", "/applications/"+f.AppID+"/commands")[0]
	var cmds []map[string]any
	if err := json.Unmarshal(reg.Body, &cmds); err != nil {
		t.Fatal(err)
	}
	hasPing := false
	for _, c := range cmds {
		hasPing = hasPing || c["name"] == "ping"
	}
	if len(cmds) > 100 || !hasPing {
		t.Errorf("registered %d global commands (Discord refuses more than 100, so none would register), ping among them: %v", len(cmds), hasPing)
	}
}
