package wasm

import (
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"github.com/maidhq/maid/sandbox/internal/pipe"
)

// pipeBufferBytes matches a Linux pipe: a guest can log or answer this much
// before a caller that is not reading yet blocks it, as with the process
// backend. io.Pipe has no buffer, so a caller that only drains stderr after
// Wait would deadlock a chatty plugin.
const pipeBufferBytes = 64 << 10

func newPipe() *pipe.Pipe { return pipe.New(pipeBufferBytes) }

// stdinWriter is the caller's end of a guest's stdin.
type stdinWriter struct{ p *pipe.Pipe }

func (w stdinWriter) Write(b []byte) (int, error) { return w.p.Write(b) }
func (w stdinWriter) Close() error                { w.p.CloseWrite(nil); return nil }

// reader is the caller's end of stdout or stderr. It hides the pipe's other
// methods from type assertions.
type reader struct{ p *pipe.Pipe }

func (r reader) Read(b []byte) (int, error) { return r.p.Read(b) }

// guestStdin is the guest's end of stdin: wazero type-asserts Pollable, so
// poll_oneoff (select, asyncio selectors) waits on it instead of treating
// it as always ready.
type guestStdin struct{ p *pipe.Pipe }

func (g guestStdin) Read(b []byte) (int, error) { return g.p.Read(b) }
func (g guestStdin) Poll(flag experimentalsys.Pflag, timeoutMillis int32) (bool, experimentalsys.Errno) {
	if flag != experimentalsys.POLLIN {
		return false, experimentalsys.ENOTSUP
	}
	return g.p.WaitReadable(time.Duration(timeoutMillis) * time.Millisecond), 0
}
