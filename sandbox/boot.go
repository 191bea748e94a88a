package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
)

// Boot is the single line a backend writes to a fresh interpreter's stdin
// before anything else. The guest runs `python3 -m maid_sdk` (the runner),
// which reads this line, then runs the plugin's entry script as __main__.
// Because the plugin is chosen only by this line, backends can keep a pool of
// interpreters that have already started and imported the SDK.
//
// Exactly one of Dir or Files is set:
//   - Dir: the plugin files are already visible to the guest at this path.
//   - Files: the plugin directory as a base64 zip (encoding/json encodes
//     []byte as base64); the runner unpacks it into its scratch dir. Used
//     where the host cannot mount files (remote Docker, read-only roots).
type Boot struct {
	Entry string `json:"entry"`           // relative to the plugin dir
	Dir   string `json:"dir,omitempty"`   // guest path of the plugin dir
	Files []byte `json:"files,omitempty"` // zipped plugin dir
}

// WriteBoot writes b as one JSON line.
func WriteBoot(w io.Writer, b Boot) error {
	if b.Entry == "" || (b.Dir == "") == (len(b.Files) == 0) {
		return fmt.Errorf("write boot line: %w: need entry and exactly one of dir, files", ErrBadSpec)
	}
	line, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("write boot line: %w", err)
	}
	if _, err := w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write boot line: %w", err)
	}
	return nil
}
