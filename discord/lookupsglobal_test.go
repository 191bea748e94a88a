package discord

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
)

// TestLookupBudgetGlobalAcrossServers guards Discord's invalid-request
// limit (10,000 failing requests per 10 minutes bans the bot's IP, all
// servers together) against a plugin enabled on many servers (attack V):
// each server's budget alone let 60 servers make 13,200 failing lookups of
// invented ids in ten minutes. Every lookup also takes from one global
// budget, so all servers together stay far below the limit, and a refused
// lookup fails fast with ErrLimit naming the global budget.
func TestLookupBudgetGlobalAcrossServers(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLookups(func() time.Time { return now })
	const servers = 60
	failed, globalRefusals := 0, 0
	for step := 0; step <= 600; step++ { // ten minutes, one round a second
		for s := range servers {
			sid := fmt.Sprintf("1%017d", s)
			for {
				err := l.take("members", sid) // each take is a REST lookup of an invented id: a 4xx, never refunded
				if err != nil {
					if !errors.Is(err, engine.ErrLimit) {
						t.Fatalf("refusal %v is not ErrLimit", err)
					}
					if !strings.Contains(err.Error(), "server "+sid) {
						globalRefusals++
					}
					break
				}
				failed++
				l.remember(fmt.Sprintf("member:%s/%d", sid, failed))
			}
		}
		now = now.Add(time.Second)
	}
	if limit := lookupGlobalBurst + lookupGlobalPerWindow + 1; failed > limit || failed >= 10_000 {
		t.Fatalf("%d servers let %d lookups of invented ids (each a 4xx) through in ten minutes; want at most %d, Discord bans the bot's IP at 10,000", servers, failed, limit)
	}
	if globalRefusals == 0 {
		t.Error("no refusal named the global budget")
	}
	// One server alone still gets its own budget while the global one lasts.
	l2 := newLookups(func() time.Time { return now })
	for i := range lookupBurst {
		if err := l2.take("channels", "42"); err != nil {
			t.Fatalf("lookup %d of a fresh server refused: %v", i, err)
		}
	}
	if err := l2.take("channels", "42"); err == nil || !strings.Contains(err.Error(), "server 42") {
		t.Fatalf("lookup past the server's burst: %v, want the server's refusal", err)
	}
}
