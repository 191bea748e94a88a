package plugin

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"testing"
)

func spec004(t *testing.T) *Manifest {
	t.Helper()
	data, err := os.ReadFile("testdata/spec004/plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(data, "plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDefaultOptions(t *testing.T) {
	got := spec004(t).DefaultOptions()
	want := map[string]any{"my_checkbox": false, "my_textbox": "", "my_number": 50.0, "my_dropdown": "red"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	if got := (&Manifest{}).DefaultOptions(); len(got) != 0 {
		t.Errorf("no options: got %v", got)
	}
}

func TestResolveOptions(t *testing.T) {
	m := spec004(t)
	// An unbounded number option, to check that min/max only apply when set.
	m.Options = append(m.Options, Option{ID: "free", Name: "Free", Type: OptionNumber, Default: json.RawMessage(`-1`)})
	tests := []struct {
		name   string
		stored string
		want   map[string]any
		errs   []string
	}{
		{name: "nothing stored gives defaults", stored: `{}`,
			want: map[string]any{"my_checkbox": false, "my_textbox": "", "my_number": 50.0, "my_dropdown": "red", "free": -1.0}},
		{name: "stored values override defaults", stored: `{"my_checkbox": true, "my_textbox": "hi", "my_number": 99.5, "my_dropdown": "blue", "free": 1e9}`,
			want: map[string]any{"my_checkbox": true, "my_textbox": "hi", "my_number": 99.5, "my_dropdown": "blue", "free": 1e9}},
		{name: "null means not set", stored: `{"my_textbox": null}`,
			want: map[string]any{"my_checkbox": false, "my_textbox": "", "my_number": 50.0, "my_dropdown": "red", "free": -1.0}},
		{name: "bounds are inclusive", stored: `{"my_number": 0}`,
			want: map[string]any{"my_checkbox": false, "my_textbox": "", "my_number": 0.0, "my_dropdown": "red", "free": -1.0}},
		{name: "upper bound inclusive", stored: `{"my_number": 100}`,
			want: map[string]any{"my_checkbox": false, "my_textbox": "", "my_number": 100.0, "my_dropdown": "red", "free": -1.0}},
		{name: "every problem at once", stored: `{"my_checkbox": "yes", "my_textbox": 5, "my_number": 101, "my_dropdown": "purple", "zzz": 1, "aaa": true}`, errs: []string{
			`options: my_checkbox: must be a boolean, got string`,
			`options: my_textbox: must be a string, got number`,
			`options: my_number: must be at most 100, got 101`,
			`options: my_dropdown: "purple" is not one of the choices (red, yellow, green, blue)`,
			`options: aaa: unknown option`,
			`options: zzz: unknown option`}},
		{name: "below min", stored: `{"my_number": -0.5}`, errs: []string{`options: my_number: must be at least 0, got -0.5`}},
		{name: "number as string", stored: `{"my_number": "50"}`, errs: []string{`options: my_number: must be a number, got string`}},
		{name: "select as number", stored: `{"my_dropdown": 1}`, errs: []string{`options: my_dropdown: must be a string, got number`}},
		{name: "number out of range", stored: `{"free": 1e999}`, errs: []string{`options: free: invalid number value`}},
		{name: "odd unknown id is quoted", stored: `{"a b": 1}`, errs: []string{`options: "a b": unknown option`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stored map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tt.stored), &stored); err != nil {
				t.Fatal(err)
			}
			got, err := m.ResolveOptions(stored)
			if tt.errs != nil {
				if err == nil || !errors.Is(err, ErrInvalid) {
					t.Fatalf("want errors %q, got %v (%v)", tt.errs, got, err)
				}
				if lines := Lines(err); !slices.Equal(lines, tt.errs) {
					t.Errorf("errors:\n got %q\nwant %q", lines, tt.errs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{name: "equal", a: "1.2.3", b: "1.2.3", want: 0},
		{name: "patch", a: "1.2.3", b: "1.2.4", want: -1},
		{name: "numeric not lexical", a: "0.10.0", b: "0.9.0", want: 1},
		{name: "prerelease below release", a: "1.0.0-alpha", b: "1.0.0", want: -1},
		{name: "release above prerelease", a: "1.0.0", b: "1.0.0-rc.1", want: 1},
		{name: "numeric identifiers numerically", a: "1.0.0-beta.2", b: "1.0.0-beta.11", want: -1},
		{name: "numeric below alphanumeric", a: "1.0.0-1", b: "1.0.0-alpha", want: -1},
		{name: "longer prerelease wins", a: "1.0.0-alpha.1", b: "1.0.0-alpha", want: 1},
		{name: "build metadata ignored", a: "1.0.0+a", b: "1.0.0+b", want: 0},
		{name: "huge numbers", a: "1.0.99999999999999999999", b: "1.0.100000000000000000000", want: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CompareVersions(tt.a, tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
	if _, err := CompareVersions("1.0", "1.0.0"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad version: %v", err)
	}
}

func TestSupportedBy(t *testing.T) {
	tests := []struct {
		name, sdk string
		ok        bool
	}{
		{name: "no sdk", sdk: "", ok: true},
		{name: "older", sdk: "0.4.0", ok: true},
		{name: "same", sdk: "0.5.1", ok: true},
		{name: "newer", sdk: "0.6.0", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&Manifest{ID: "x", SDK: tt.sdk}).SupportedBy("0.5.1")
			if (err == nil) != tt.ok {
				t.Errorf("SupportedBy: %v", err)
			}
		})
	}
}
