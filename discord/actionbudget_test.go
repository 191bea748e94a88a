package discord

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/maidhq/maid/engine"
)

// TestActionFailureBudget guards the accounting of failing actions
// (attack W): allow spends nothing, charge takes each failure from the
// server's and the global budget, an unverified target is refused once
// the server's budget is spent, and a verified one (a channel or message
// known to be the server's) only a burst further, so invented ids cannot
// refuse honest sends.
func TestActionFailureBudget(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLookups(func() time.Time { return now })
	for range 3 * lookupBurst {
		if err := l.allow("reactions", "42", false); err != nil {
			t.Fatalf("allow spent the budget: %v", err)
		}
	}
	for range lookupBurst {
		l.charge("42")
	}
	err := l.allow("reactions", "42", false)
	if !errors.Is(err, engine.ErrLimit) || !strings.Contains(err.Error(), "server 42") {
		t.Fatalf("unverified action after %d failures: %v, want the server's ErrLimit", lookupBurst, err)
	}
	if err := l.allow("sends", "42", true); err != nil {
		t.Fatalf("verified action refused by failures of unverified ones: %v", err)
	}
	if err := l.take("members", "42"); err == nil {
		t.Fatal("lookup allowed after the server's budget was spent by failing actions")
	}
	for range lookupBurst {
		l.charge("42")
	}
	if err := l.allow("sends", "42", true); !errors.Is(err, engine.ErrLimit) {
		t.Fatalf("verified action after its own burst of failures: %v, want ErrLimit", err)
	}
	if err := l.allow("reactions", "43", false); err != nil {
		t.Fatalf("another server refused: %v", err)
	}
	// The global budget: failures on many servers together.
	g := newLookups(func() time.Time { return now })
	for i := range lookupGlobalBurst {
		g.charge(string(rune('a'+i%26)) + strings.Repeat("x", i/26))
	}
	err = g.allow("role changes", "fresh", false)
	if !errors.Is(err, engine.ErrLimit) || !strings.Contains(err.Error(), "all servers") {
		t.Fatalf("action after %d failures on all servers: %v, want the global ErrLimit", lookupGlobalBurst, err)
	}
}

// TestRoleAboveBotRefusedFromState guards the check before a role request
// (attack W): a role not below the bot's highest one, which Discord would
// refuse with a 403 counted towards its ban, is refused without a request
// when the gateway state holds the bot's member; without it, or for the
// owner, nothing is refused (Discord decides, and act charges its 403).
func TestRoleAboveBotRefusedFromState(t *testing.T) {
	const bot = "900"
	guild := func(owner string, botRoles []string, withBot bool) *discordgo.Guild {
		gd := &discordgo.Guild{ID: "1", OwnerID: owner, Roles: []*discordgo.Role{
			{ID: "1", Position: 0}, {ID: "10", Position: 1}, {ID: "20", Position: 2}, {ID: "30", Position: 3},
		}}
		gd.Members = []*discordgo.Member{{User: &discordgo.User{ID: "5"}, Roles: []string{"30"}}}
		if withBot {
			gd.Members = append(gd.Members, &discordgo.Member{User: &discordgo.User{ID: bot}, Roles: botRoles})
		}
		return gd
	}
	for _, tc := range []struct {
		name    string
		gd      *discordgo.Guild
		role    string
		refused bool
	}{
		{name: "below the bot's highest role", gd: guild("5", []string{"20"}, true), role: "10"},
		{name: "above the bot's highest role", gd: guild("5", []string{"20"}, true), role: "30", refused: true},
		{name: "the bot's highest role itself", gd: guild("5", []string{"10", "20"}, true), role: "20", refused: true},
		{name: "bot without roles", gd: guild("5", nil, true), role: "10", refused: true},
		{name: "bot's member not in the state", gd: guild("5", nil, false), role: "30"},
		{name: "bot owns the server", gd: guild(bot, nil, true), role: "30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := roleAboveBot(tc.gd, bot, tc.role)
			if tc.refused != (err != nil) {
				t.Fatalf("role %s: %v, refused want %v", tc.role, err, tc.refused)
			}
			if err != nil && !errors.Is(err, engine.ErrForbidden) {
				t.Fatalf("refusal %v is not ErrForbidden", err)
			}
		})
	}
}

// TestChargedStatus guards which of Discord's answers take from the
// failure budgets (attack X): those its invalid-request ban counts (401,
// 403, 429) and an id that is not there (404); not a 400 or another
// refusal of the request's content, which one plugin could otherwise make
// at will to spend the reserve of every plugin's honest sends.
func TestChargedStatus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		charged bool
	}{
		{name: "bad request", status: 400},
		{name: "unauthorized", status: 401, charged: true},
		{name: "forbidden", status: 403, charged: true},
		{name: "not found", status: 404, charged: true},
		{name: "payload too large", status: 413},
		{name: "too many requests", status: 429, charged: true},
		{name: "server error", status: 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fmt.Errorf("send message: %w", &discordgo.RESTError{Response: &http.Response{StatusCode: tc.status}})
			status, charged := chargedStatus(err)
			if status != tc.status || charged != tc.charged {
				t.Fatalf("chargedStatus(%d) = %d, %v; want %d, %v", tc.status, status, charged, tc.status, tc.charged)
			}
		})
	}
	if _, charged := chargedStatus(errors.New("connection reset")); charged {
		t.Fatal("a network error is charged")
	}
}
