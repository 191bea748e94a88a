package discord

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/maidhq/maid/engine"
)

// Lookups of ids the gateway state does not know (a channel, a member, a
// message to check before deleting it) cost one REST request each on the
// bot's shared rate limit, and Discord counts their 401, 403 and 429
// answers towards the invalid-request limit (10,000 per 10 minutes) that
// bans the bot's IP, for every plugin and server; a 404 (an id that is
// not there) is a request spent for nothing. The ids are a plugin's
// choice, so (attack Q1) a failed lookup is remembered for lookupMissTTL,
// and each server has a budget of lookups that do not resolve to it:
// lookupBurst at once, one more every lookupRefill. Lookups that find what the server
// has are refunded, so honest plugins never feel the budget.
//
// Discord's limit is the bot's IP's, all servers together, and a plugin
// enabled on many servers has a budget on each (60 servers: 13,200
// lookups in ten minutes, attack V), so every lookup also takes from one
// global budget: lookupGlobalBurst at once, lookupGlobalPerWindow more per
// lookupGlobalWindow. That is at most 3,000 failing lookups in any ten
// minutes, under a third of Discord's 10,000, leaving the rest for the 4xx
// answers honest actions get (a permission the bot lacks, a message a
// moderator deleted) and other bots on the same IP.
const (
	lookupMissTTL = 10 * time.Minute
	lookupMissMax = 10_000 // remembered failures, all servers
	lookupBurst   = 20
	lookupRefill  = 3 * time.Second
	lookupServers = 100_000 // budgets kept; past it they start over

	lookupGlobalBurst     = 500
	lookupGlobalPerWindow = 2_500
	lookupGlobalWindow    = 10 * time.Minute
)

// lookupGlobalRefill is how often the global budget gains a lookup.
const lookupGlobalRefill = lookupGlobalWindow / lookupGlobalPerWindow

// lookups is the gateway's memory of failed lookups, the per-server
// budgets and the global one.
type lookups struct {
	mu      sync.Mutex
	now     func() time.Time
	miss    map[string]time.Time // "kind:id" → when it is forgotten
	buckets map[string]*lookupBucket
	global  lookupBucket
}

type lookupBucket struct {
	tokens float64
	at     time.Time
}

// fill adds what the bucket earned since it was last used.
func (b *lookupBucket) fill(now time.Time, burst float64, refill time.Duration) {
	b.tokens = min(burst, b.tokens+float64(now.Sub(b.at))/float64(refill))
	b.at = now
}

func newLookups(now func() time.Time) *lookups {
	if now == nil {
		now = time.Now
	}
	return &lookups{now: now, miss: map[string]time.Time{}, buckets: map[string]*lookupBucket{},
		global: lookupBucket{tokens: lookupGlobalBurst, at: now()}}
}

// failed reports whether the lookup of key failed within lookupMissTTL.
func (l *lookups) failed(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	until, ok := l.miss[key]
	if ok && l.now().After(until) {
		delete(l.miss, key)
		return false
	}
	return ok
}

// remember records a failed lookup of key.
func (l *lookups) remember(key string) { l.rememberFor(key, lookupMissTTL) }

// rememberFor records a failure of key for ttl.
func (l *lookups) rememberFor(key string, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.miss) >= lookupMissMax {
		for k, until := range l.miss {
			if now.After(until) {
				delete(l.miss, k)
			}
		}
		if len(l.miss) >= lookupMissMax { // all fresh: forget them all (the budget still bounds lookups)
			clear(l.miss)
		}
	}
	l.miss[key] = now.Add(ttl)
}

// forget drops a remembered failure (the member joined since).
func (l *lookups) forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.miss, key)
}

// take spends one lookup of serverID's budget and of the global one; nil,
// or the refusal naming the budget that is spent (errLookupBudget), in
// which case neither is spent.
func (l *lookups) take(what, serverID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.filled(serverID)
	if b.tokens < 1 {
		return errLookupBudget(what, serverID)
	}
	if l.global.tokens < 1 {
		return errGlobalBudget("unknown ids looked up")
	}
	b.tokens--
	l.global.tokens--
	return nil
}

// errGlobalBudget is the refusal once the global budget is spent.
func errGlobalBudget(what string) error {
	return fmt.Errorf("%w: too many %s on all servers together (at most %d, then %d per %s, under Discord's ban limit of 10,000 failing requests per 10 minutes): try again later",
		engine.ErrLimit, what, lookupGlobalBurst, lookupGlobalPerWindow, lookupGlobalWindow)
}

// Plugin actions (a reaction, a role, an edit, a send) are REST requests
// too, on ids the plugin chooses, and their failures count towards the
// same ban (attack W). They spend nothing when they succeed: an answer the
// budgets exist for (chargedStatus: 401, 403, 429, and 404 for an
// invented id) takes from serverID's budget and the global one after the
// fact (charge), and an action is refused up front once a budget is spent
// (allow). A 400 (an embed Discord refuses, an edit over 2,000
// characters) is the request's content refused: Discord's ban does not
// count it, and it is neither charged nor remembered (attack X). An
// action on a target the gateway knows is the server's (a send to a
// channel of it, an edit of a message the bot sent there) may run the
// budgets down a further reserve (a burst of each, see allow) before it is
// refused, so invented ids spending a budget do not refuse honest sends;
// only failures of such actions themselves reach that far. All servers
// together then fail at most lookupGlobalBurst+lookupGlobalPerWindow
// +lookupGlobalBurst requests per window, a third of Discord's limit.
//
// A failed action is remembered for actionMissTTL (shorter than a lookup:
// an admin may grant the missing permission) so the same target again
// fails without a request; under a key no wider than what the answer says
// (a refused reply is not a refused send, a refused reaction add not a
// refused removal, attack X).
const actionMissTTL = time.Minute

// allow refuses a request that may fail once serverID's or the global
// budget is spent (below one; verified: below one less a burst), naming
// the budget. It spends nothing.
func (l *lookups) allow(what, serverID string, verified bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.filled(serverID)
	floor, globalFloor := 1.0, 1.0
	if verified {
		floor, globalFloor = 1-lookupBurst, 1-lookupGlobalBurst
	}
	if b.tokens < floor {
		return fmt.Errorf("%w: too many failed %s for server %s (at most %d, then one every %s, failing on Discord): try again later",
			engine.ErrLimit, what, serverID, lookupBurst, lookupRefill)
	}
	if l.global.tokens < globalFloor {
		return errGlobalBudget("failed " + what)
	}
	return nil
}

// charge takes a failed request from serverID's budget and the global one.
// Concurrent actions allowed before either failed may take a budget below
// its floor; it refills from there.
func (l *lookups) charge(serverID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.filled(serverID)
	b.tokens--
	l.global.tokens--
}

// filled returns serverID's bucket with it and the global one refilled up
// to now; callers hold l.mu.
func (l *lookups) filled(serverID string) *lookupBucket {
	now := l.now()
	b := l.server(serverID, now)
	b.fill(now, lookupBurst, lookupRefill)
	l.global.fill(now, lookupGlobalBurst, lookupGlobalRefill)
	return b
}

// server returns serverID's bucket, new and full for a server not seen.
func (l *lookups) server(serverID string, now time.Time) *lookupBucket {
	b := l.buckets[serverID]
	if b == nil {
		if len(l.buckets) >= lookupServers {
			clear(l.buckets)
		}
		b = &lookupBucket{tokens: lookupBurst, at: now}
		l.buckets[serverID] = b
	}
	return b
}

// refund gives back a lookup that found what serverID has.
func (l *lookups) refund(serverID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[serverID]; b != nil {
		b.tokens = min(lookupBurst, b.tokens+1)
	}
	l.global.tokens = min(lookupGlobalBurst, l.global.tokens+1)
}

// errLookupBudget is the refusal once serverID's budget is spent.
func errLookupBudget(what, serverID string) error {
	return fmt.Errorf("%w: too many unknown %s looked up for server %s (at most %d, then one every %s): use ids of this server's %s",
		engine.ErrLimit, what, serverID, lookupBurst, lookupRefill, what)
}

// chargedStatus reports Discord's answer to a failed request and whether
// the failure budgets charge it: 401, 403 and 429, which Discord counts
// towards its invalid-request ban (discordgo retries 429s itself; one
// that reaches here counts as well), and 404, an id that is not there
// (invented ids are what the budgets are for). Other 4xx, 400 above all,
// are the request's content refused (an embed, an edit over 2,000
// characters): not counted by Discord's ban and throttled like any
// request by discordgo's per-route rate limiter, so charging them would
// let one plugin's bad messages spend the reserve of every plugin's
// honest sends (attack X).
func chargedStatus(err error) (int, bool) {
	var re *discordgo.RESTError
	if !errors.As(err, &re) || re.Response == nil {
		return 0, false
	}
	switch c := re.Response.StatusCode; c {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusTooManyRequests:
		return c, true
	default:
		return c, false
	}
}

// definite reports whether a failed REST lookup says the id is not there
// (4xx: unknown, no access), as opposed to a failure worth retrying.
func definite(err error) bool {
	var re *discordgo.RESTError
	if !errors.As(err, &re) || re.Response == nil {
		return false
	}
	c := re.Response.StatusCode
	return c >= 400 && c < 500 && c != http.StatusTooManyRequests
}
