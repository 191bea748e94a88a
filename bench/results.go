package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Schema names the results.json layout; bump it when fields change meaning.
const Schema = "maid-bench/1"

// Units used by figures.
const (
	UnitMicros    = "us"
	UnitMillis    = "ms"
	UnitEventsSec = "events/s"
	UnitOpsSec    = "ops/s"
	UnitMiB       = "MiB"
	UnitInstances = "instances"
)

// Figure is one measured quantity. Exactly one of Dist (a distribution of
// Samples measurements) or Value (a single figure, the median of Reps when
// repeated) is set, unless the measurement failed (Error).
type Figure struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Covers string `json:"covers"` // what the time or size includes, start to end
	Unit   string `json:"unit"`
	// Samples is how many measurements the figure is computed from (for a
	// throughput, the events or operations counted).
	Samples int       `json:"samples"`
	Errors  int       `json:"errors"`
	Dist    *Dist     `json:"dist,omitempty"`
	Value   *float64  `json:"value,omitempty"`
	Reps    []float64 `json:"reps,omitempty"`
	// Extrapolated marks a figure computed from other measured figures
	// rather than measured directly.
	Extrapolated bool   `json:"extrapolated,omitempty"`
	Note         string `json:"note,omitempty"`
	Error        string `json:"error,omitempty"`
	// Curve, for a figure measured at several sizes (density), is each
	// measured point; Value is the last one's.
	Curve []Point `json:"curve,omitempty"`

	raw []float64 // the samples, for plots
}

// Point is one measurement of a curve: Y (the figure's unit) at X.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUModel     string     `json:"cpu_model"`
	Cores        int        `json:"cores"`
	MemoryBytes  int64      `json:"memory_bytes"`
	Kernel       string     `json:"kernel"`
	OS           string     `json:"os"`
	Arch         string     `json:"arch"`
	GoVersion    string     `json:"go_version"`
	Python       string     `json:"python"` // host python3 (process backend, baselines)
	MaidVersion  string     `json:"maid_version"`
	MaidCommit   string     `json:"maid_commit"`
	LoadAvgStart [3]float64 `json:"load_avg_start"`
	LoadAvgEnd   [3]float64 `json:"load_avg_end"`
}

// Config records the run's parameters (never a database password).
type Config struct {
	Backends    []string `json:"backends"`
	Plugins     int      `json:"plugins"`
	Events      int      `json:"events"`
	Starts      int      `json:"starts"`
	Concurrency int      `json:"concurrency"`
	Pool        int      `json:"pool"`
	BudgetBytes int64    `json:"budget_bytes"`
	Stores      []string `json:"stores"` // "sqlite", and "postgres" when a DSN was given
	Dashboard   string   `json:"dashboard"`
}

// BackendResult is one backend's figures, or why it could not run.
type BackendResult struct {
	Name      string `json:"name"`
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"`
	// Details is what the backend says about how it ran (see
	// describer), e.g. the docker backend's data path and OCI runtime.
	Details map[string]string `json:"details,omitempty"`
	Figures []Figure          `json:"figures"`
	Notes   []string          `json:"notes,omitempty"`
}

// Results is everything a run measured; it is written as results.json.
type Results struct {
	Schema     string          `json:"schema"`
	Date       time.Time       `json:"date"`
	FinishedAt time.Time       `json:"finished_at"`
	DurationS  float64         `json:"duration_s"`
	Machine    Machine         `json:"machine"`
	Config     Config          `json:"config"`
	Baselines  []Figure        `json:"baselines"`
	Backends   []BackendResult `json:"backends"`
	Notes      []string        `json:"notes,omitempty"`
}

// Backend returns the named backend's result, or nil.
func (r *Results) Backend(name string) *BackendResult {
	for i := range r.Backends {
		if r.Backends[i].Name == name {
			return &r.Backends[i]
		}
	}
	return nil
}

// Figure returns the figure with id, or nil.
func (b *BackendResult) Figure(id string) *Figure {
	return findFigure(b.Figures, id)
}

func findFigure(fs []Figure, id string) *Figure {
	for i := range fs {
		if fs[i].ID == id {
			return &fs[i]
		}
	}
	return nil
}

func distFigure(id, title, covers, unit string, samples []float64, errs int) Figure {
	f := Figure{ID: id, Title: title, Covers: covers, Unit: unit, Samples: len(samples), Errors: errs, raw: samples}
	if len(samples) > 0 {
		d := summarize(samples)
		f.Dist = &d
	} else {
		f.Error = "no successful samples"
	}
	return f
}

func valueFigure(id, title, covers, unit string, samples int, reps []float64) Figure {
	v := median(reps)
	return Figure{ID: id, Title: title, Covers: covers, Unit: unit, Samples: samples, Value: &v, Reps: reps}
}

func failedFigure(id, title, unit string, err error) Figure {
	return Figure{ID: id, Title: title, Unit: unit, Error: err.Error()}
}

// writeJSON writes results.json into dir.
func writeJSON(dir string, r *Results) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results.json: %w", err)
	}
	return nil
}
