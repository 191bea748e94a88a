package bench

import (
	"sort"
	"strings"
)

// describer is implemented by backends that can say how they run, beyond
// their name: the docker backend reports its data path ("socket" past
// dockerd, or the engine's "attach" stream) and its OCI runtime, which
// change its figures more than anything else. Optional: bench depends
// only on sandbox.Backend.
type describer interface {
	Describe() map[string]string
}

// formatDetails renders details as "k1 v1, k2 v2", keys sorted.
func formatDetails(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+" "+d[k])
	}
	return strings.Join(parts, ", ")
}
