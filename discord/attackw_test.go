package discord_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/maidhq/maid/discord"
)

// TestAttackW_FailingActionsOutsideBudget (attack W): the lookup budgets
// (per server and global, attack Q1 and V) bound the 4xx answers a
// plugin's invented ids cost, because Discord's invalid-request limit
// bans the bot's IP for every server. But only lookups take from them:
// add_reaction names any message id in a channel the gateway state holds,
// and add_role/remove_role any user id with a role of the server, and each
// goes straight to Discord, whose 4xx (Unknown Message, Unknown Member;
// Missing Permissions for a role above the bot's, or a channel it cannot
// read) is neither budgeted nor remembered. N calls with invented ids
// make N failing requests, as lookups did before attack Q1; the same
// id again fails again on Discord every time.
func TestAttackW_FailingActionsOutsideBudget(t *testing.T) {
	env := startGateway(t, discord.GatewayConfig{}, nil)
	eventually(t, "ready", func() bool { return env.gw.Stats().Shards == 1 && len(mustServers(t, env.gw)) == 2 })
	ctx := context.Background()
	failing := func() int {
		n := 0
		for _, r := range env.fake.Requests() {
			if r.Status >= 400 && r.Status < 500 && r.Status != 429 {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		name  string
		tries int // discordgo spaces reactions 250 ms apart
		call  func(i int) error
	}{
		{name: "reactions on invented messages", tries: 60, call: func(i int) error {
			return env.gw.AddReaction(ctx, guild1, chan1, fmt.Sprintf("5500000000%08d", i), "\U0001F44D")
		}},
		{name: "roles of invented members", tries: 300, call: func(i int) error {
			return env.gw.AddRole(ctx, guild1, fmt.Sprintf("6500000000%08d", i), role1)
		}},
		{name: "the same invented message again", tries: 60, call: func(int) error {
			return env.gw.AddReaction(ctx, guild1, chan1, "550000000099999999", "\U0001F44D")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := failing()
			for i := range tc.tries {
				if err := tc.call(i); err == nil {
					t.Fatalf("call %d with an invented id succeeded", i)
				}
			}
			if n := failing() - before; n > 30 {
				t.Errorf("%d calls with invented ids made %d failing (4xx) requests to Discord, outside the lookup budgets; want at most 30", tc.tries, n)
			}
		})
	}
}
