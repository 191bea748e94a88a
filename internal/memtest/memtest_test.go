package memtest

import "testing"

var sink []byte

func TestPeakSeesATransientAllocation(t *testing.T) {
	const size = 64 << 20
	g := Peak(func() {
		sink = make([]byte, size)
		for i := range sink {
			sink[i] = 1 // touch every page so RSS sees it too
		}
		sink = nil
	})
	if g.Heap < size/2 {
		t.Errorf("heap growth %d, want at least %d", g.Heap, size/2)
	}
	if RSS() > 0 && g.RSS < size/2 {
		t.Errorf("rss growth %d, want at least %d", g.RSS, size/2)
	}
}

func TestPeakOfNothingIsSmall(t *testing.T) {
	g := Peak(func() {})
	if g.Heap < 0 || g.RSS < 0 {
		t.Fatalf("negative growth: %+v", g)
	}
	if g.Heap > 8<<20 {
		t.Errorf("heap growth %d for an empty function", g.Heap)
	}
}
