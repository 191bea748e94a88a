package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/maidhq/maid/engine"
)

// maxEventLine bounds one line of an events JSONL file.
const maxEventLine = 1 << 20

// readEvents decodes JSONL events ({"type", "discord_srv_id", "data"} per
// line; blank lines and lines starting with # are skipped) and calls fn for
// each, for `maid call --events` and `maid replay`. defaultServer fills a missing discord_srv_id. Errors name the line.
func readEvents(r io.Reader, defaultServer string, fn func(engine.Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxEventLine)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		ev, err := engine.DecodeEvent(line, defaultServer)
		if err != nil {
			return fmt.Errorf("events line %d: %w", n, err)
		}
		if err := fn(ev); err != nil {
			return fmt.Errorf("events line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("events line %d: %w: longer than %d bytes", n+1, engine.ErrLimit, maxEventLine)
		}
		return fmt.Errorf("read events: %w", err)
	}
	return nil
}
