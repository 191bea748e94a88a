package dashboard

import (
	"context"
	"testing"
	"time"

	"github.com/maidhq/maid/internal/sessiontest"
)

// TestMemSignInAttemptWindows: the in-memory session store counts like the
// store (store.TestSignInAttemptWindows runs the same cases).
func TestMemSignInAttemptWindows(t *testing.T) {
	m := newMemSessions()
	sessiontest.SignInAttemptWindows(t, "", func(client string, now time.Time, window time.Duration, max int) (bool, error) {
		return m.SignInAttempt(context.Background(), client, now, window, max)
	}, func(client string) bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		_, ok := m.attempts[client]
		return ok
	})
}
