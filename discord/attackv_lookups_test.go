package discord

import (
	"fmt"
	"testing"
	"time"
)

// TestAttackV_LookupBudgetNotGlobal: the lookup budget is per server
// (20, then one every 3 s), but the limit it protects, Discord's 10,000
// invalid requests per 10 minutes that bans the bot's IP, is global. A
// plugin enabled on 60 servers that names a fresh invented id in every
// call (each its own remembered miss, so the miss cache never helps)
// gets 60 × 220 = 13,200 failing lookups into ten minutes: the bot is
// banned on every server. The lookups that may fail, all servers
// together, must stay below Discord's limit.
func TestAttackV_LookupBudgetNotGlobal(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLookups(func() time.Time { return now })
	const servers = 60
	failed := 0
	for step := 0; step <= 600; step++ { // ten minutes, one round a second
		for s := range servers {
			sid := fmt.Sprintf("1%017d", s)
			for l.take(sid) { // each take is a REST lookup of an invented id: a 4xx, never refunded
				failed++
				l.remember(fmt.Sprintf("member:%s/%d", sid, failed))
			}
		}
		now = now.Add(time.Second)
	}
	if failed >= 10_000 {
		t.Fatalf("%d servers let %d lookups of invented ids (each a 4xx) through in ten minutes; Discord bans the bot's IP at 10,000", servers, failed)
	}
}
