package telemetry

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/sandbox"
)

func TestInstanceExitReasons(t *testing.T) {
	tests := []struct {
		name string
		exit sandbox.Exit
		want string
	}{
		{name: "clean", exit: sandbox.Exit{Code: 0}, want: "exit"},
		{name: "nonzero", exit: sandbox.Exit{Code: 2}, want: "error"},
		{name: "memory", exit: sandbox.Exit{Code: -1, Err: fmt.Errorf("x: %w", sandbox.ErrMemoryLimit)}, want: "memory_limit"},
		{name: "time", exit: sandbox.Exit{Code: -1, Err: sandbox.ErrTimeLimit}, want: "time_limit"},
		{name: "killed", exit: sandbox.Exit{Code: -1, Err: sandbox.ErrKilled}, want: "killed"},
		{name: "failed", exit: sandbox.Exit{Code: -1, Err: errors.New("boom")}, want: "failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewPrometheus(prometheus.NewRegistry(), "wasm")
			m.InstanceStarted("p", false)
			m.InstanceStopped("p", tc.exit)
			if got := value(t, m.instances.WithLabelValues("p", tc.want)); got != 1 {
				t.Fatalf("exits{reason=%q} = %v, want 1", tc.want, got)
			}
			if got := value(t, m.running); got != 0 {
				t.Fatalf("running = %v, want 0", got)
			}
		})
	}
}

func TestCallLabels(t *testing.T) {
	m := NewPrometheus(prometheus.NewRegistry(), "docker")
	m.CallDone("event", "p", time.Millisecond, nil)
	m.CallDone("dashboard", "p", time.Millisecond, fmt.Errorf("x: %w", engine.ErrTimeout))
	if got := value(t, m.routed.WithLabelValues("p")); got != 1 {
		t.Fatalf("routed = %v, want 1", got)
	}
	if got := value(t, m.errors.WithLabelValues("docker", "dashboard", "p", engine.ErrorCode(engine.ErrTimeout))); got != 1 {
		t.Fatalf("errors = %v, want 1 under backend docker", got)
	}
}

// value reads a counter's or gauge's current value.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("metric %v is neither a counter nor a gauge", c.Desc())
	return 0
}
