package discord_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/maidhq/maid/engine"
)

// TestUnknownIDLookupsBounded guards the bot's shared REST budget against
// ids a plugin invents (attack Q1): each channel or member id the gateway
// state does not know costs a REST lookup, and Discord counts the 4xx
// answers towards the invalid-request limit that bans the bot's IP. A
// failed lookup is remembered (the same id again costs nothing), and a
// server gets a bounded number of lookups that do not resolve to it;
// past it the call fails fast with ErrLimit ("too many unknown …").
// Channels in the gateway state need no lookup and never count.
func TestUnknownIDLookupsBounded(t *testing.T) {
	env := readyGateway(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		prefix string // of the REST paths the lookups take
		call   func(i int) error
	}{
		{name: "invented channels", prefix: "/channels/54", call: func(i int) error {
			_, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: fmt.Sprintf("5400000000%08d", i), Content: "x"})
			return err
		}},
		{name: "invented members", prefix: "/guilds/" + guild1 + "/members/64", call: func(i int) error {
			_, err := env.gw.GetMember(ctx, guild1, fmt.Sprintf("6400000000%08d", i))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const tries = 300
			limited := 0
			for i := range tries {
				err := tc.call(i)
				if err == nil {
					t.Fatalf("call %d with an invented id succeeded", i)
				}
				if errors.Is(err, engine.ErrLimit) {
					limited++
				}
			}
			lookups := len(requests(env.fake, "GET", tc.prefix))
			if lookups > 30 || limited == 0 {
				t.Errorf("%d calls with invented ids made %d REST lookups (%d refused by the budget); want at most 30", tries, lookups, limited)
			}
			// The same id again: its failure is remembered, no request.
			before := len(requests(env.fake, "GET", tc.prefix))
			for range 20 {
				_ = tc.call(0)
			}
			if again := len(requests(env.fake, "GET", tc.prefix)) - before; again != 0 {
				t.Errorf("an id whose lookup failed was looked up %d more times for 20 calls", again)
			}
		})
	}
	// With the budget spent, channels and members the server has still work.
	if _, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1, Content: "still here"}); err != nil {
		t.Errorf("send to a channel in the state after the budget is spent: %v", err)
	}
}
