package discord_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/maidhq/maid/engine"
)

// TestFailingActionsBudgeted guards Discord's invalid-request limit
// (10,000 failing requests per 10 minutes ban the bot's IP, every server
// with it) against a plugin's actions on invented ids (attack W): before,
// only lookups took from the failure budgets, and add_reaction on any
// message id of a known channel or add_role/remove_role on any user id
// went to Discord every time, each 4xx unbudgeted and unremembered. Now
// every 4xx of an action takes from the server's and the global budget,
// an action is refused fast (ErrLimit) once one is spent, and a failed
// target is remembered so the same one again sends nothing. Successful
// actions spend nothing, and sends to a channel of the server still work
// once invented ids have spent the budget.
func TestFailingActionsBudgeted(t *testing.T) {
	env := readyGateway(t)
	ctx := context.Background()
	failing := env.failingRequests
	// Successes first: far more than a burst, none refused or charged.
	for i := range 100 {
		if err := env.gw.AddRole(ctx, guild1, user1, role1); err != nil {
			t.Fatalf("add role %d to a member: %v", i, err)
		}
		if err := env.gw.RemoveRole(ctx, guild1, user1, role1); err != nil {
			t.Fatalf("remove role %d from a member: %v", i, err)
		}
	}
	for _, tc := range []struct {
		name    string
		tries   int // discordgo spaces reactions 250 ms apart
		limited bool
		call    func(i int) error
	}{
		{name: "reactions on invented messages", tries: 60, limited: true, call: func(i int) error {
			return env.gw.AddReaction(ctx, guild1, chan1, fmt.Sprintf("5500000000%08d", i), "\U0001F44D")
		}},
		{name: "roles of invented members", tries: 300, limited: true, call: func(i int) error {
			return env.gw.AddRole(ctx, guild1, fmt.Sprintf("6500000000%08d", i), role1)
		}},
		{name: "role removals from invented members", tries: 300, limited: true, call: func(i int) error {
			return env.gw.RemoveRole(ctx, guild1, fmt.Sprintf("6600000000%08d", i), role1)
		}},
		{name: "the same invented message again", tries: 60, call: func(int) error {
			return env.gw.AddReaction(ctx, guild1, chan1, "550000000000000000", "\U0001F44D")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := failing()
			limited := 0
			for i := range tc.tries {
				err := tc.call(i)
				if err == nil {
					t.Fatalf("call %d with an invented id succeeded", i)
				}
				if errors.Is(err, engine.ErrLimit) {
					limited++
				}
			}
			if n := failing() - before; n > 30 {
				t.Errorf("%d calls with invented ids made %d failing (4xx) requests to Discord; want at most 30", tc.tries, n)
			}
			if tc.limited && limited == 0 {
				t.Errorf("no call of %d was refused by the budget", tc.tries)
			}
			if !tc.limited && (failing() != before || limited != 0) {
				t.Errorf("a target whose action failed was retried on Discord %d times (%d refused by the budget, not remembered)", failing()-before, limited)
			}
		})
	}
	// The budget spent by invented ids does not refuse a send to a
	// channel of the server (a verified target).
	if _, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1, Content: "still here"}); err != nil {
		t.Errorf("send to a channel of the server after invented ids spent the budget: %v", err)
	}
	// Another server's budget is its own.
	if err := env.gw.AddRole(ctx, guild2, user2, role2); err != nil {
		t.Errorf("add role on another server: %v", err)
	}
}
