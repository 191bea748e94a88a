package docker

import "github.com/maidhq/maid/sandbox/internal/pipe"

// pipeBuffer bounds how much output one stream may hold unread. Docker
// multiplexes stdout and stderr on one connection: with plain io.Pipes, a
// caller that reads only stdout would stall the plugin as soon as it logs.
// A buffer per stream lets either be read alone until it fills.
const pipeBuffer = 1 << 20

func newBufPipe() *pipe.Pipe { return pipe.New(pipeBuffer) }
