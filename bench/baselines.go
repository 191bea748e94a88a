package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/rpc"
	"github.com/maidhq/maid/sandbox/process"
)

// eventParams mirrors what the engine sends a plugin for one event
// (plugin.event params), so baselines move the same bytes.
func eventParams() map[string]any {
	ev := event(eventNoop, "1", 1)
	return map[string]any{
		"ctx":   map[string]any{"discord_srv_id": "1", "plugin_id": "bench-0", "options": map[string]any{}},
		"type":  ev.Type,
		"event": ev.Data,
		"call":  "0123456789abcdef01234567",
	}
}

// eventLine is one plugin.event request as a protocol line.
func eventLine() []byte {
	line, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "plugin.event", "params": eventParams()})
	return append(line, '\n')
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// handleDirect is the floor: the event handed to a Go function.
//
//go:noinline
func handleDirect(ev *engine.Event) int { return len(ev.Type) + len(ev.Data) }

// baselineGoCall times direct calls in batches of 1000 (a single call is
// below the clock's resolution); each sample is one batch's mean.
func baselineGoCall(n int) Figure {
	ev := event(eventNoop, "1", 1)
	const batch = 1000
	samples := make([]float64, 0, n)
	acc := 0
	for i := 0; i < n; i++ {
		t0 := time.Now()
		for j := 0; j < batch; j++ {
			acc += handleDirect(&ev)
		}
		samples = append(samples, micros(time.Since(t0))/batch)
	}
	runtime.KeepAlive(acc) // the calls must not be optimized away
	f := distFigure("go_call", "Direct Go function call",
		"calling a Go function with the event (mean of batches of 1000 calls)", UnitMicros, samples, 0)
	f.Samples = n * batch
	return f
}

// baselineGoJSON times encoding the engine's event params and decoding
// them again in-process: the JSON work of one call, without any I/O.
func baselineGoJSON(n, warm int) Figure {
	params := eventParams()
	samples, errs, _ := timeRuns(n, warm, micros, nil, func() error {
		data, err := json.Marshal(params)
		var back map[string]any
		if err == nil {
			err = json.Unmarshal(data, &back)
		}
		return err
	})
	return distFigure("go_json", "Go JSON encode+decode of one event",
		"json.Marshal of plugin.event params and json.Unmarshal back, in-process", UnitMicros, samples, errs)
}

// baselinePipeGo times one line written to an os.Pipe, echoed by a
// goroutine through a second pipe, and read back: the syscall floor of any
// stdio protocol.
func baselinePipeGo(n, warm int) Figure {
	const id, title = "pipe_go", "Raw pipe round trip, Go echo"
	r1, w1, r2, w2, err := pipePair()
	if err != nil {
		return failedFigure(id, title, UnitMicros, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer w2.Close()
		br := bufio.NewReaderSize(r1, 64<<10)
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if _, err := w2.Write(line); err != nil {
				return
			}
		}
	}()
	samples, errs := echoLoop(w1, bufio.NewReaderSize(r2, 64<<10), n, warm)
	w1.Close()
	wg.Wait()
	r1.Close()
	r2.Close()
	return distFigure(id, title,
		"write one ~260-byte protocol line to a pipe, a goroutine reads it and writes it to a second pipe, read it back", UnitMicros, samples, errs)
}

// echoLoop times protocol lines written to w and echoed back on r. It
// stops once the echo is gone (EOF, closed pipe).
func echoLoop(w io.Writer, r *bufio.Reader, n, warm int) ([]float64, int) {
	line := eventLine()
	gone := func(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) }
	samples, errs, _ := timeRuns(n, warm, micros, gone, func() error {
		_, err := w.Write(line)
		if err == nil {
			var got []byte
			got, err = r.ReadSlice('\n')
			if err == nil && len(got) != len(line) {
				err = fmt.Errorf("echo returned %d bytes, sent %d", len(got), len(line))
			}
		}
		return err
	})
	return samples, errs
}

// timeRuns runs op warm+n times and keeps the duration of each successful
// run after the first warm, scaled. It counts the failed runs and returns
// the last failure; a failure for which stop (may be nil) reports true
// ends the loop, as no later run could succeed.
func timeRuns(n, warm int, scale func(time.Duration) float64, stop func(error) bool, op func() error) ([]float64, int, error) {
	samples := make([]float64, 0, n)
	errs := 0
	var last error
	for i := 0; i < warm+n; i++ {
		t0 := time.Now()
		err := op()
		d := time.Since(t0)
		if err != nil {
			errs++
			last = err
			if stop != nil && stop(err) {
				break
			}
			continue
		}
		if i >= warm {
			samples = append(samples, scale(d))
		}
	}
	return samples, errs, last
}

// pipePair opens two pipes, one each way between two ends; on failure
// none is left open.
func pipePair() (r1, w1, r2, w2 *os.File, err error) {
	if r1, w1, err = os.Pipe(); err != nil {
		return nil, nil, nil, nil, err
	}
	if r2, w2, err = os.Pipe(); err != nil {
		r1.Close()
		w1.Close()
		return nil, nil, nil, nil, err
	}
	return r1, w1, r2, w2, nil
}

// baselineRPC times one call through two rpc.Conns over pipes, answered
// by a Go handler: maid's codec and dispatcher with no interpreter.
func baselineRPC(ctx context.Context, n, warm int) Figure {
	const id, title = "rpc_go", "JSON-RPC call over pipes, Go handler"
	r1, w1, r2, w2, err := pipePair()
	if err != nil {
		return failedFigure(id, title, UnitMicros, err)
	}
	echo := func(ctx context.Context, method string, params json.RawMessage) (any, error) { return struct{}{}, nil }
	host := rpc.NewConn(r2, w1, nil, rpc.Options{})
	guest := rpc.NewConn(r1, w2, echo, rpc.Options{})
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = host.Run(cctx) }()
	go func() { defer wg.Done(); _ = guest.Run(cctx) }()
	params := eventParams()
	samples, errs, _ := timeRuns(n, warm, micros, nil, func() error {
		var out json.RawMessage
		return host.Call(ctx, "plugin.event", params, &out)
	})
	cancel()
	for _, f := range []*os.File{w1, w2, r1, r2} {
		f.Close()
	}
	wg.Wait()
	return distFigure(id, title,
		"rpc.Conn.Call with plugin.event params: encode, pipe, decode, dispatch to a Go handler, answer back", UnitMicros, samples, errs)
}

const pyEcho = `import sys
r = sys.stdin.buffer
w = sys.stdout.buffer
while True:
    line = r.readline()
    if not line:
        break
    w.write(line)
    w.flush()
`

const pyJSONEcho = `import json, sys
r = sys.stdin.buffer
w = sys.stdout.buffer
` + pyJSONEchoLoop

// pyJSONEchoLoop answers each line read from r on w with the line decoded
// and encoded again. pipe_python_json and guest_json_rtt share it so that
// the host's and the guest's figures time the same Python.
const pyJSONEchoLoop = `while True:
    line = r.readline()
    if not line:
        break
    msg = json.loads(line)
    w.write(json.dumps(msg, separators=(",", ":")).encode() + b"\n")
    w.flush()
`

// python3 is the interpreter the process backend runs (a version
// manager's shim resolved), so the baselines measure the same one.
var python3 = sync.OnceValue(func() string {
	if exe, err := process.ResolvePython(""); err == nil {
		return exe
	}
	return "python3"
})

// baselinePython times the same line through a python3 subprocess that
// echoes it (raw, or decoded and re-encoded with json).
func baselinePython(ctx context.Context, n, warm int, withJSON bool) Figure {
	id, title, script := "pipe_python", "Pipe round trip, python3 subprocess echo", pyEcho
	covers := "write one protocol line to a host python3's stdin; it reads the line and writes it back; read it"
	if withJSON {
		id, title, script = "pipe_python_json", "Pipe round trip, python3 json.loads+dumps", pyJSONEcho
		covers = "as pipe_python, but python3 decodes the line with json.loads and encodes it with json.dumps"
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(cctx, python3(), "-s", "-c", script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return failedFigure(id, title, UnitMicros, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return failedFigure(id, title, UnitMicros, err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return failedFigure(id, title, UnitMicros, fmt.Errorf("start python3: %w", err))
	}
	samples, errs := echoLoop(stdin, bufio.NewReaderSize(stdout, 64<<10), n, warm)
	stdin.Close()
	if err := cmd.Wait(); err != nil && len(samples) == 0 {
		return failedFigure(id, title, UnitMicros, fmt.Errorf("python3 echo: %w: %s", err, bytes.TrimSpace(stderr.Bytes())))
	}
	return distFigure(id, title, covers, UnitMicros, samples, errs)
}

// baselinePythonStart times `python3 -c pass`: the interpreter start-up
// every fresh process-backend instance pays before loading the SDK.
func baselinePythonStart(ctx context.Context, n, warm int) Figure {
	samples, errs, last := timeRuns(n, warm, millis, nil, func() error {
		return exec.CommandContext(ctx, python3(), "-c", "pass").Run()
	})
	f := distFigure("python_start", "python3 start-up", "fork+exec of `python3 -c pass` until it exits", UnitMillis, samples, errs)
	if len(samples) == 0 && last != nil {
		f.Error = last.Error()
	}
	return f
}
