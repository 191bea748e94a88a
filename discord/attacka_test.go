package discord_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/maidhq/maid/discord"
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

