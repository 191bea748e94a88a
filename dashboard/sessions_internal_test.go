package dashboard

import (
	"context"
	"testing"
	"time"

	"github.com/maidhq/maid/internal/sessiontest"
)

// TestMemSignInAttemptWindows: the in-memory session store counts and
// deletes counters like the store (store.TestSignInAttemptWindows runs the
// same cases).
func TestMemSignInAttemptWindows(t *testing.T) {
	m := newMemSessions()
	attempt := func(client string, now time.Time, window time.Duration, max int) (bool, error) {
		return m.SignInAttempt(context.Background(), client, now, window, max)
	}
	sessiontest.SignInAttemptWindows(t, "", attempt)
	sessiontest.DeleteAttempts(t, "", attempt, func(before time.Time) error {
		return m.DeleteExpiredDashboardSessions(context.Background(), time.Now(), before)
	}, func(client string) bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		_, ok := m.attempts[client]
		return ok
	})
}
