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
// bot's shared rate limit, and Discord counts their 4xx answers towards
// the invalid-request limit (10,000 per 10 minutes) that bans the bot's
// IP, for every plugin and server. The ids are a plugin's choice, so
// (attack Q1) a failed lookup is remembered for lookupMissTTL, and each
// server has a budget of lookups that do not resolve to it: lookupBurst
// at once, one more every lookupRefill. Lookups that find what the server
// has are refunded, so honest plugins never feel the budget.
const (
	lookupMissTTL = 10 * time.Minute
	lookupMissMax = 10_000 // remembered failures, all servers
	lookupBurst   = 20
	lookupRefill  = 3 * time.Second
	lookupServers = 100_000 // budgets kept; past it they start over
)

// lookups is the gateway's memory of failed lookups and the per-server
// budgets.
type lookups struct {
	mu      sync.Mutex
	now     func() time.Time
	miss    map[string]time.Time // "kind:id" → when it is forgotten
	buckets map[string]*lookupBucket
}

type lookupBucket struct {
	tokens float64
	at     time.Time
}

func newLookups(now func() time.Time) *lookups {
	if now == nil {
		now = time.Now
	}
	return &lookups{now: now, miss: map[string]time.Time{}, buckets: map[string]*lookupBucket{}}
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
func (l *lookups) remember(key string) {
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
	l.miss[key] = now.Add(lookupMissTTL)
}

// forget drops a remembered failure (the member joined since).
func (l *lookups) forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.miss, key)
}

// take spends one lookup of serverID's budget; false when it is spent.
func (l *lookups) take(serverID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[serverID]
	if b == nil {
		if len(l.buckets) >= lookupServers {
			clear(l.buckets)
		}
		b = &lookupBucket{tokens: lookupBurst, at: now}
		l.buckets[serverID] = b
	}
	b.tokens = min(lookupBurst, b.tokens+float64(now.Sub(b.at))/float64(lookupRefill))
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refund gives back a lookup that found what serverID has.
func (l *lookups) refund(serverID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[serverID]; b != nil {
		b.tokens = min(lookupBurst, b.tokens+1)
	}
}

// errLookupBudget is the refusal once serverID's budget is spent.
func errLookupBudget(what, serverID string) error {
	return fmt.Errorf("%w: too many unknown %s looked up for server %s (at most %d, then one every %s): use ids of this server's %s",
		engine.ErrLimit, what, serverID, lookupBurst, lookupRefill, what)
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
