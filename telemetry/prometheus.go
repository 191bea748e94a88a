// Package telemetry exports what the engine does as Prometheus metrics. It
// implements the engine's Observer port; the dashboard serves the registry
// on /metrics, and nothing else depends on this package, so the Discord
// adapter and the engine stay free of Prometheus.
package telemetry

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/sandbox"
)

// Prometheus exports what the engine does in Prometheus format. It
// implements engine.Observer: pass it to engine.Config.Observer.
type Prometheus struct {
	backend   string // sandbox backend, for the latency and error labels
	routed    *prometheus.CounterVec
	overflow  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	errors    *prometheus.CounterVec
	running   prometheus.Gauge
	restarts  *prometheus.CounterVec
	instances *prometheus.CounterVec
}

var _ engine.Observer = (*Prometheus)(nil)

// NewPrometheus registers maid's metrics with reg (nil: the default
// registry), labelling call latency and errors with the sandbox backend.
func NewPrometheus(reg prometheus.Registerer, backend string) *Prometheus {
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	m := &Prometheus{
		backend: backend,
		routed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maid_events_routed_total", Help: "Discord events delivered to a plugin's handler.",
		}, []string{"plugin"}),
		overflow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maid_events_overflow_total", Help: "Events a plugin's full queue could not take.",
		}, []string{"plugin"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "maid_plugin_call_duration_seconds",
			Help:    "Latency of host-to-plugin calls (event, dashboard and command handlers), per sandbox backend.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"backend", "kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maid_plugin_call_errors_total", Help: "Host-to-plugin calls that failed, by error code.",
		}, []string{"backend", "kind", "plugin", "code"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "maid_instances_running", Help: "Plugin instances running now.",
		}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maid_instance_restarts_total", Help: "Plugin instances started again after a crash.",
		}, []string{"plugin"}),
		instances: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maid_instance_exits_total", Help: "Plugin instance exits, by reason.",
		}, []string{"plugin", "reason"}),
	}
	reg.MustRegister(m.routed, m.overflow, m.latency, m.errors, m.running, m.restarts, m.instances)
	return m
}

// CallDone implements engine.Observer.
func (m *Prometheus) CallDone(kind, pluginID string, d time.Duration, err error) {
	b := m.backend
	m.latency.WithLabelValues(b, kind).Observe(d.Seconds())
	if kind == "event" {
		m.routed.WithLabelValues(pluginID).Inc()
	}
	if err != nil {
		m.errors.WithLabelValues(b, kind, pluginID, engine.ErrorCode(err)).Inc()
	}
}

// InstanceStarted implements engine.Observer.
func (m *Prometheus) InstanceStarted(pluginID string, restart bool) {
	m.running.Inc()
	if restart {
		m.restarts.WithLabelValues(pluginID).Inc()
	}
}

// InstanceStopped implements engine.Observer.
func (m *Prometheus) InstanceStopped(pluginID string, exit sandbox.Exit) {
	m.running.Dec()
	reason := "exit"
	switch {
	case errors.Is(exit.Err, sandbox.ErrMemoryLimit):
		reason = "memory_limit"
	case errors.Is(exit.Err, sandbox.ErrTimeLimit):
		reason = "time_limit"
	case errors.Is(exit.Err, sandbox.ErrKilled):
		reason = "killed"
	case exit.Err != nil:
		reason = "failed"
	case exit.Code != 0:
		reason = "error"
	}
	m.instances.WithLabelValues(pluginID, reason).Inc()
}

// EventOverflow implements engine.Observer.
func (m *Prometheus) EventOverflow(pluginID string) { m.overflow.WithLabelValues(pluginID).Inc() }
