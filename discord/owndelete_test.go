package discord_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/maidhq/maid/engine"
)

// TestOwnMessageDeleteNeedsNoLookupBudget guards one plugin's deletes
// against another plugin spending the server's lookup budget (attack V):
// DeleteMessage took a lookup of the budget before reading every message,
// so a plugin naming invented members kept the budget empty and every
// other plugin's delete_message of its own message failed with LimitError.
// A message this gateway sent into that channel is deleted without a
// lookup; a second delete of it (gone now) and a message the gateway did
// not send are still looked up within the budget.
func TestOwnMessageDeleteNeedsNoLookupBudget(t *testing.T) {
	env := readyGateway(t)
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		id, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1, Content: fmt.Sprintf("an honest plugin's message %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	spent := false
	for i := range 40 { // the hostile plugin
		if _, err := env.gw.GetMember(ctx, guild1, fmt.Sprintf("6400000000%08d", i)); errors.Is(err, engine.ErrLimit) {
			spent = true
		}
	}
	if !spent {
		t.Fatal("40 invented members did not spend the server's lookup budget")
	}
	lookupsBefore := len(requests(env.fake, "GET", "/channels/"+chan1+"/messages/"))
	for _, tc := range []struct {
		name    string
		id      string
		wantErr error // nil: deleted
	}{
		{name: "own message, budget spent", id: ids[0]},
		{name: "another own message, budget spent", id: ids[1]},
		{name: "own message deleted already, budget spent", id: ids[0], wantErr: engine.ErrLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := env.gw.DeleteMessage(ctx, guild1, chan1, tc.id)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("another plugin's spent lookups refuse an honest delete of the bot's own message: %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	if n := len(requests(env.fake, "GET", "/channels/"+chan1+"/messages/")) - lookupsBefore; n != 0 {
		t.Errorf("deletes made %d message lookups with the budget spent", n)
	}
	// Named in another server's channel, a sent message is not the one the
	// gateway sent there: it is looked up (and refused by the spent budget).
	other, err := env.gw.SendMessage(ctx, guild2, engine.OutMessage{ChannelID: chan2, Content: "on server two"})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.gw.DeleteMessage(ctx, guild1, chan1, other); !errors.Is(err, engine.ErrLimit) {
		t.Errorf("delete of server two's message named in server one's channel: %v, want the budget's ErrLimit", err)
	}
	if err := env.gw.DeleteMessage(ctx, guild1, chan1, ids[2]); err != nil {
		t.Errorf("delete of the third own message: %v", err)
	}
}
