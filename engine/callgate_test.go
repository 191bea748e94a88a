package engine

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCallGate: unrecorded calls overlap; a recorded call waits for them
// and then runs alone; while it waits no new unrecorded call enters (no
// starvation); a wait ends with its ctx and leaves the gate usable.
func TestCallGate(t *testing.T) {
	var g callGate
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	leaveA, err := g.enter(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	leaveB, err := g.enter(ctx, false) // overlaps A
	if err != nil {
		t.Fatal(err)
	}
	recIn := make(chan func())
	go func() {
		leave, err := g.enter(ctx, true)
		if err != nil {
			t.Error(err)
			close(recIn)
			return
		}
		recIn <- leave
	}()
	// Wait until the recorded call is waiting (its count is visible).
	for {
		g.mu.Lock()
		w := g.waiting
		g.mu.Unlock()
		if w == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the recorded call never waited")
		case <-time.After(time.Millisecond):
		}
	}
	// A new unrecorded call does not pass the waiting recorded one.
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	if _, err := g.enter(short, false); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an unrecorded call entered while a recorded one waited: %v", err)
	}
	cancelShort()
	select {
	case <-recIn:
		t.Fatal("the recorded call ran alongside unrecorded ones")
	default:
	}
	leaveA()
	leaveB()
	leaveRec := <-recIn
	if leaveRec == nil {
		t.Fatal("recorded call failed")
	}
	// While it runs, nothing else enters.
	short, cancelShort = context.WithTimeout(ctx, 50*time.Millisecond)
	if _, err := g.enter(short, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second recorded call entered alongside the first: %v", err)
	}
	cancelShort()
	leaveRec()
	// The gate is free again, the abandoned waits left nothing behind.
	for _, recorded := range []bool{false, true} {
		leave, err := g.enter(ctx, recorded)
		if err != nil {
			t.Fatalf("enter (recorded %v) after release: %v", recorded, err)
		}
		leave()
	}
	if g.shared != 0 || g.exclusive || g.waiting != 0 {
		t.Fatalf("gate not idle: shared %d, exclusive %v, waiting %d", g.shared, g.exclusive, g.waiting)
	}
}
