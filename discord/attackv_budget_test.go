package discord_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/engine"
)

// TestAttackV_BudgetBlocksOthersDeletes: DeleteMessage takes a lookup of
// the server's budget before it reads the message, on every delete (the
// refund comes only after). One plugin naming invented members keeps the
// server's budget empty at one lookup every 3 seconds, and then every
// other plugin's delete_message of its own, real message on that server
// fails with LimitError: not the "delay of get_member" the docs leave.
func TestAttackV_BudgetBlocksOthersDeletes(t *testing.T) {
	env := startGateway(t, discord.GatewayConfig{}, nil)
	eventually(t, "ready", func() bool { return env.gw.Stats().Shards == 1 && len(mustServers(t, env.gw)) == 2 })
	ctx := context.Background()
	id, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1, Content: "an honest plugin's message"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 { // the hostile plugin
		_, _ = env.gw.GetMember(ctx, guild1, fmt.Sprintf("6400000000%08d", i))
	}
	if err := env.gw.DeleteMessage(ctx, guild1, chan1, id); err != nil {
		t.Fatalf("another plugin's spent lookups refuse an honest delete of the bot's own message: %v", err)
	}
}
