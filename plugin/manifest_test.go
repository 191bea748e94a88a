package plugin

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// pj builds a plugin.json with the required keys plus extra members.
func pj(extra string) string {
	s := `{"id": "x", "name": "X", "script": "s.py"`
	if extra != "" {
		s += ", " + extra
	}
	return s + "}"
}

// opt builds a plugin.json with one option object.
func opt(body string) string { return pj(`"options": [{` + body + `}]`) }

func TestParseManifest(t *testing.T) {
	spec004, err := os.ReadFile("testdata/spec004/plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	long := func(r string, n int) string { return strings.Repeat(r, n) }
	tests := []struct {
		name string
		file string // default plugin.json
		data string
		want []string // every problem line, exactly; nil means valid
	}{
		// Valid manifests.
		{name: "spec 004 example", data: string(spec004)},
		{name: "minimal", data: pj("")},
		{name: "id uses the whole charset", data: `{"id": "AZaz09_-", "name": "X", "script": "s.py"}`},
		{name: "id of one dash", data: `{"id": "-", "name": "X", "script": "s.py"}`},
		{name: "name of 64 characters", data: `{"id": "x", "name": "` + long("n", 64) + `", "script": "s.py"}`},
		{name: "name of 64 multibyte characters", data: `{"id": "x", "name": "` + long("é", 64) + `", "script": "s.py"}`},
		{name: "script in a subdirectory", data: `{"id": "x", "name": "X", "script": "src/main.py"}`},
		{name: "manifest.json may omit script", file: "manifest.json", data: `{"id": "x", "name": "X"}`},
		{name: "utf-8 byte order mark", data: "\ufeff" + pj("")},
		{name: "every extra field", data: pj(`"version": "1.2.3-beta.1+build.5", "description": "<b>hi</b>", "author": "me",
			"sdk": "0.5.1", "capabilities": ["storage:kv", "storage:sql", "metrics:write", "discord:send_messages", "discord:manage_roles", "discord:read_members"],
			"limits": {"memory_mb": 128, "event_timeout_ms": 5000, "dashboard_timeout_ms": 10000},
			"commands": [{"name": "ping", "description": "Pong", "options": [
				{"name": "who", "description": "Who", "type": "user", "required": true},
				{"name": "n", "description": "How many", "type": "integer"}]}]`)},
		{name: "dashboard bridge read only", file: "manifest.json", data: `{"id": "x", "name": "X", "dashboard_bridge": "read_only"}`},
		{name: "dashboard bridge read write", data: pj(`"dashboard_bridge": "read_write"`)},
		{name: "instances per server", file: "manifest.json", data: `{"id": "x", "name": "X", "instances": "per_server"}`},
		{name: "instances per plugin", data: pj(`"instances": "per_plugin"`)},
		{name: "empty arrays", data: pj(`"options": [], "capabilities": [], "commands": []`)},
		{name: "number default fraction", data: opt(`"id": "n", "name": "N", "type": "number", "default": -2.5e-3`)},
		{name: "number default outside min and max is not validated", data: opt(`"id": "n", "name": "N", "type": "number", "default": 500, "min": 10, "max": 1`)},
		{name: "min and max on a non-number option are ignored", data: opt(`"id": "b", "name": "B", "type": "bool", "default": true, "min": 1, "max": 2`)},
		{name: "choice id Enabled is not reserved (case-sensitive)", data: opt(`"id": "s", "name": "S", "type": "select", "default": "Enabled", "choices": [{"id": "Enabled", "name": "On"}]`)},
		{name: "choice name of 512 characters", data: opt(`"id": "s", "name": "S", "type": "select", "default": "a", "choices": [{"id": "a", "name": "` + long("c", 512) + `"}]`)},
		{name: "option description is stored as given", data: opt(`"id": "s", "name": "S", "type": "string", "default": "", "description": "<a href=\"x\">&lt;</a>"`)},

		// The document.
		{name: "not JSON", data: "{\n  \"id\": x\n}", want: []string{
			`plugin.json: invalid JSON at line 2, column 9: invalid character 'x' looking for beginning of value`}},
		{name: "trailing garbage", data: pj("") + "}", want: []string{
			`plugin.json: invalid JSON at line 1, column 43: invalid character '}' after top-level value`}},
		{name: "not an object", data: `[]`, want: []string{`plugin.json: must be an object, got array`}},
		{name: "unexpected end", data: "{\"id\": ", want: []string{`plugin.json: invalid JSON at line 1, column 8: unexpected end of JSON input`}},
		{name: "empty file", data: ``, want: []string{`plugin.json: invalid JSON at line 1, column 1: unexpected end of JSON input`}},
		{name: "invalid utf-8", data: "{\"id\": \"\xff\"}", want: []string{`plugin.json: is not valid UTF-8`}},
		{name: "too large", data: pj(`"description": "` + long("d", MaxManifestBytes) + `"`), want: []string{
			`plugin.json: is 1048637 bytes, more than the 1048576 byte limit`}},

		// Required fields and unknown keys.
		{name: "all required fields missing", data: `{}`, want: []string{
			`plugin.json: id: is required`, `plugin.json: name: is required`, `plugin.json: script: is required`}},
		{name: "manifest.json requires id and name", file: "manifest.json", data: `{}`, want: []string{
			`manifest.json: id: is required`, `manifest.json: name: is required`}},
		{name: "unknown key with suggestion", data: pj(`"optons": []`), want: []string{
			`plugin.json: optons: unknown key (did you mean "options"?)`}},
		{name: "unknown key differing in case", data: pj(`"Version": "1.0.0"`), want: []string{
			`plugin.json: Version: unknown key (did you mean "version"?)`}},
		{name: "unknown key without suggestion", data: pj(`"homepage": "x"`), want: []string{
			`plugin.json: homepage: unknown key (allowed: id, name, script, version, description, author, sdk, capabilities, options, limits, commands, dashboard_bridge, instances)`}},
		{name: "odd unknown key is quoted", data: pj(`"a b": 1`), want: []string{
			`plugin.json: "a b": unknown key (allowed: id, name, script, version, description, author, sdk, capabilities, options, limits, commands, dashboard_bridge, instances)`}},
		{name: "instances must be per_plugin or per_server", data: pj(`"instances": "per_guild"`), want: []string{
			`plugin.json: instances: must be "per_plugin" or "per_server", got "per_guild"`}},
		{name: "instances must be a string", data: pj(`"instances": 2`), want: []string{
			`plugin.json: instances: must be a string, got number`}},
		{name: "dashboard_bridge must be read_only or read_write", data: pj(`"dashboard_bridge": "none"`), want: []string{
			`plugin.json: dashboard_bridge: must be "read_only" or "read_write", got "none"`}},
		{name: "duplicate key", data: `{"id": "x", "name": "X", "script": "s.py", "id": "y"}`, want: []string{
			`plugin.json: id: key appears more than once`}},
		{name: "null is not a string", data: `{"id": "x", "name": null, "script": "s.py"}`, want: []string{
			`plugin.json: name: must be a string, got null`}},
		{name: "wrong types everywhere", data: `{"id": 1, "name": true, "script": [], "version": 1, "description": {}, "author": 2, "sdk": 3, "capabilities": "storage:kv", "options": {}, "limits": [], "commands": 1}`, want: []string{
			`plugin.json: id: must be a string, got number`,
			`plugin.json: name: must be a string, got boolean`,
			`plugin.json: script: must be a string, got array`,
			`plugin.json: version: must be a string, got number`,
			`plugin.json: description: must be a string, got object`,
			`plugin.json: author: must be a string, got number`,
			`plugin.json: sdk: must be a string, got number`,
			`plugin.json: capabilities: must be an array, got string`,
			`plugin.json: options: must be an array, got object`,
			`plugin.json: limits: must be an object, got array`,
			`plugin.json: commands: must be an array, got number`}},

		// id, name, script.
		{name: "id empty", data: `{"id": "", "name": "X", "script": "s.py"}`, want: []string{`plugin.json: id: must not be empty`}},
		{name: "id with a space", data: `{"id": "my plugin", "name": "X", "script": "s.py"}`, want: []string{
			`plugin.json: id: must contain only letters, digits, "-" and "_", got "my plugin"`}},
		{name: "id with a non-ASCII letter", data: `{"id": "café", "name": "X", "script": "s.py"}`, want: []string{
			`plugin.json: id: must contain only letters, digits, "-" and "_", got "café"`}},
		{name: "id with a dot", data: `{"id": "a.b", "name": "X", "script": "s.py"}`, want: []string{
			`plugin.json: id: must contain only letters, digits, "-" and "_", got "a.b"`}},
		{name: "id too long", data: `{"id": "` + long("i", 129) + `", "name": "X", "script": "s.py"}`, want: []string{
			`plugin.json: id: must be at most 128 characters, got 129`}},
		{name: "name empty", data: `{"id": "x", "name": "", "script": "s.py"}`, want: []string{`plugin.json: name: must not be empty`}},
		{name: "name blank", data: `{"id": "x", "name": "  ", "script": "s.py"}`, want: []string{`plugin.json: name: must not be empty`}},
		{name: "name of 65 characters", data: `{"id": "x", "name": "` + long("n", 65) + `", "script": "s.py"}`, want: []string{
			`plugin.json: name: must be at most 64 characters, got 65`}},
		{name: "name of 65 multibyte characters", data: `{"id": "x", "name": "` + long("日", 65) + `", "script": "s.py"}`, want: []string{
			`plugin.json: name: must be at most 64 characters, got 65`}},
		{name: "script empty", data: `{"id": "x", "name": "X", "script": ""}`, want: []string{`plugin.json: script: must not be empty (got "")`}},
		{name: "script absolute", data: `{"id": "x", "name": "X", "script": "/etc/passwd"}`, want: []string{
			`plugin.json: script: must be a relative path (got "/etc/passwd")`}},
		{name: "script with a drive letter", data: `{"id": "x", "name": "X", "script": "C:/x.py"}`, want: []string{
			`plugin.json: script: must be a relative path (got "C:/x.py")`}},
		{name: "script escaping the package", data: `{"id": "x", "name": "X", "script": "a/../../s.py"}`, want: []string{
			`plugin.json: script: must not contain ".." (it must stay inside the package) (got "a/../../s.py")`}},
		{name: "script with backslash", data: `{"id": "x", "name": "X", "script": "src\\s.py"}`, want: []string{
			`plugin.json: script: must use "/" as separator, not "\" (got "src\\s.py")`}},
		{name: "script not clean", data: `{"id": "x", "name": "X", "script": "./s.py"}`, want: []string{
			`plugin.json: script: must be a clean path (no ".", empty or trailing segments) (got "./s.py")`}},
		{name: "script with control character", data: `{"id": "x", "name": "X", "script": "s\u0000.py"}`, want: []string{
			`plugin.json: script: must not contain control characters (got "s\x00.py")`}},

		// Options (spec 004).
		{name: "option not an object", data: pj(`"options": [1]`), want: []string{`plugin.json: options[0]: must be an object, got number`}},
		{name: "option missing everything", data: opt(``), want: []string{
			`plugin.json: options[0].id: is required`, `plugin.json: options[0].name: is required`,
			`plugin.json: options[0].type: is required`, `plugin.json: options[0].default: is required`}},
		{name: "option id charset", data: opt(`"id": "a b", "name": "N", "type": "bool", "default": true`), want: []string{
			`plugin.json: options[0].id: must contain only letters, digits, "-" and "_", got "a b"`}},
		{name: "option ids unique", data: pj(`"options": [{"id": "a", "name": "A", "type": "bool", "default": true}, {"id": "b", "name": "B", "type": "bool", "default": true}, {"id": "a", "name": "C", "type": "bool", "default": true}]`), want: []string{
			`plugin.json: options[2].id: option id "a" is already used by options[0]`}},
		{name: "option name too long", data: opt(`"id": "a", "name": "` + long("n", 65) + `", "type": "bool", "default": true`), want: []string{
			`plugin.json: options[0].name: must be at most 64 characters, got 65`}},
		{name: "option type unknown", data: opt(`"id": "a", "name": "A", "type": "integer", "default": 1`), want: []string{
			`plugin.json: options[0].type: must be one of bool, string, number, select, got "integer"`}},
		{name: "option unknown key", data: opt(`"id": "a", "name": "A", "type": "bool", "defualt": true`), want: []string{
			`plugin.json: options[0].default: is required`, `plugin.json: options[0].defualt: unknown key (did you mean "default"?)`}},
		{name: "bool default must be boolean", data: opt(`"id": "a", "name": "A", "type": "bool", "default": "false"`), want: []string{
			`plugin.json: options[0].default: must be a boolean (true or false) for a bool option, got string`}},
		{name: "string default must be string", data: opt(`"id": "a", "name": "A", "type": "string", "default": 0`), want: []string{
			`plugin.json: options[0].default: must be a string for a string option, got number`}},
		{name: "string default null", data: opt(`"id": "a", "name": "A", "type": "string", "default": null`), want: []string{
			`plugin.json: options[0].default: must be a string for a string option, got null`}},
		{name: "number default must be number", data: opt(`"id": "a", "name": "A", "type": "number", "default": "5"`), want: []string{
			`plugin.json: options[0].default: must be a number for a number option, got string`}},
		{name: "number default out of range", data: opt(`"id": "a", "name": "A", "type": "number", "default": 1e999`), want: []string{
			`plugin.json: options[0].default: number 1e999 is out of range`}},
		{name: "min must be a number", data: opt(`"id": "a", "name": "A", "type": "number", "default": 1, "min": "0", "max": null`), want: []string{
			`plugin.json: options[0].min: must be a number, got string`, `plugin.json: options[0].max: must be a number, got null`}},
		{name: "select default must be string", data: opt(`"id": "a", "name": "A", "type": "select", "default": 1, "choices": [{"id": "x", "name": "X"}]`), want: []string{
			`plugin.json: options[0].default: must be a string (the id of one of the choices) for a select option, got number`}},
		{name: "select requires choices", data: opt(`"id": "a", "name": "A", "type": "select", "default": "x"`), want: []string{
			`plugin.json: options[0].choices: is required for a select option`}},
		{name: "select requires at least one choice", data: opt(`"id": "a", "name": "A", "type": "select", "default": "x", "choices": []`), want: []string{
			`plugin.json: options[0].choices: must have at least one choice for a select option`,
			`plugin.json: options[0].default: "x" is not the id of one of the choices ()`}},
		{name: "select default not a choice", data: opt(`"id": "a", "name": "A", "type": "select", "default": "purple", "choices": [{"id": "red", "name": "Red"}, {"id": "blue", "name": "Blue"}]`), want: []string{
			`plugin.json: options[0].default: "purple" is not the id of one of the choices (red, blue)`}},
		{name: "choice id enabled is reserved", data: pj(`"options": [{"id": "a", "name": "A", "type": "bool", "default": true}, {"id": "b", "name": "B", "type": "bool", "default": true}, {"id": "c", "name": "C", "type": "bool", "default": true},
			{"id": "d", "name": "D", "type": "select", "default": "off", "choices": [{"id": "enabled", "name": "On"}, {"id": "off", "name": "Off"}]}]`), want: []string{
			`plugin.json: options[3].choices[0].id: "enabled" is reserved`}},
		{name: "choice ids unique", data: opt(`"id": "a", "name": "A", "type": "select", "default": "x", "choices": [{"id": "x", "name": "X"}, {"id": "x", "name": "Y"}]`), want: []string{
			`plugin.json: options[0].choices[1].id: choice id "x" is already used by options[0].choices[0]`}},
		{name: "choice id charset", data: opt(`"id": "a", "name": "A", "type": "select", "default": "x", "choices": [{"id": "x", "name": "X"}, {"id": "y/z", "name": "Y"}]`), want: []string{
			`plugin.json: options[0].choices[1].id: must contain only letters, digits, "-" and "_", got "y/z"`}},
		{name: "choice name too long", data: opt(`"id": "a", "name": "A", "type": "select", "default": "x", "choices": [{"id": "x", "name": "` + long("c", 513) + `"}]`), want: []string{
			`plugin.json: options[0].choices[0].name: must be at most 512 characters, got 513`}},
		{name: "choice missing fields and unknown key", data: opt(`"id": "a", "name": "A", "type": "select", "default": "x", "choices": [{"value": "x"}]`), want: []string{
			`plugin.json: options[0].choices[0].id: is required`, `plugin.json: options[0].choices[0].name: is required`,
			`plugin.json: options[0].choices[0].value: unknown key (allowed: id, name)`,
			`plugin.json: options[0].default: "x" is not the id of one of the choices ()`}},

		// Fields beyond spec 004.
		{name: "version not semver", data: pj(`"version": "1.0"`), want: []string{`plugin.json: version: must be a semantic version such as "1.2.3", got "1.0"`}},
		{name: "version with v prefix", data: pj(`"version": "v1.0.0"`), want: []string{
			`plugin.json: version: must be a semantic version without the leading "v" (e.g. "1.0.0"), got "v1.0.0"`}},
		{name: "version with leading zero", data: pj(`"version": "1.02.0"`), want: []string{`plugin.json: version: must be a semantic version such as "1.2.3", got "1.02.0"`}},
		{name: "sdk not semver", data: pj(`"sdk": "latest"`), want: []string{`plugin.json: sdk: must be a semantic version such as "1.2.3", got "latest"`}},
		{name: "unknown capability with suggestion", data: pj(`"capabilities": ["storage:kvv"]`), want: []string{
			`plugin.json: capabilities[0]: unknown capability "storage:kvv" (did you mean "storage:kv"?)`}},
		{name: "unknown capability", data: pj(`"capabilities": ["network"]`), want: []string{
			`plugin.json: capabilities[0]: unknown capability "network" (known: storage:kv, storage:sql, metrics:write, discord:send_messages, discord:manage_roles, discord:read_members)`}},
		{name: "capability listed twice", data: pj(`"capabilities": ["storage:kv", "metrics:write", "storage:kv"]`), want: []string{
			`plugin.json: capabilities[2]: capability "storage:kv" is already listed at capabilities[0]`}},
		{name: "capability not a string", data: pj(`"capabilities": [1]`), want: []string{`plugin.json: capabilities[0]: must be a string, got number`}},
		{name: "limits bad values", data: pj(`"limits": {"memory_mb": 0, "event_timeout_ms": 1.5, "dashboard_timeout_ms": "10", "cpu": 1}`), want: []string{
			`plugin.json: limits.memory_mb: must be between 1 and 1048576, got 0`,
			`plugin.json: limits.event_timeout_ms: must be a whole number between 1 and 86400000, got 1.5`,
			`plugin.json: limits.dashboard_timeout_ms: must be a whole number, got string`,
			`plugin.json: limits.cpu: unknown key (allowed: memory_mb, event_timeout_ms, dashboard_timeout_ms)`}},
		{name: "command rules", data: pj(`"commands": [
			{"name": "Ping", "description": ""},
			{"name": "` + long("p", 33) + `", "description": "` + long("d", 101) + `"},
			{"name": "ok", "description": "d", "options": [
				{"name": "a", "description": "A", "type": "string"},
				{"name": "b", "description": "B", "type": "float", "required": true},
				{"name": "a", "description": "A", "type": "user", "required": "yes"}]},
			{"name": "ok", "description": "again"},
			{"description": "no name", "alias": "x"}]`), want: []string{
			`plugin.json: commands[0].name: must be 1 to 32 lowercase letters, digits, "-" or "_", got "Ping"`,
			`plugin.json: commands[0].description: must not be empty (Discord requires a description)`,
			`plugin.json: commands[1].name: must be 1 to 32 lowercase letters, digits, "-" or "_", got "` + long("p", 33) + `"`,
			`plugin.json: commands[1].description: must be at most 100 characters, got 101`,
			`plugin.json: commands[2].options[1].type: must be one of string, integer, number, boolean, user, channel, role, mentionable, got "float"`,
			`plugin.json: commands[2].options[1].required: required options must come before optional ones (commands[2].options[0] is optional)`,
			`plugin.json: commands[2].options[2].name: option "a" is already defined by commands[2].options[0]`,
			`plugin.json: commands[2].options[2].required: must be a boolean (true or false), got string`,
			`plugin.json: commands[3].name: command "ok" is already defined by commands[2]`,
			`plugin.json: commands[4].name: is required`,
			`plugin.json: commands[4].alias: unknown key (allowed: name, description, options)`}},
		{name: "too many commands", data: pj(`"commands": [` + strings.TrimSuffix(strings.Repeat(`{"name": "c", "description": "d"},`, 26), ",") + `]`), want: append([]string{
			`plugin.json: commands: must have at most 25 commands, got 26`},
			func() []string {
				var out []string
				for i := 1; i < 26; i++ {
					out = append(out, `plugin.json: commands[`+itoa(i)+`].name: command "c" is already defined by commands[0]`)
				}
				return out
			}()...)},

		// All at once.
		{name: "every problem is reported", data: `{"id": "a b", "name": "", "script": "../x.py", "extra": 1, "options": [{"id": "o", "name": "O", "type": "select", "default": "enabled", "choices": [{"id": "enabled", "name": "E"}]}]}`, want: []string{
			`plugin.json: id: must contain only letters, digits, "-" and "_", got "a b"`,
			`plugin.json: name: must not be empty`,
			`plugin.json: script: must not contain ".." (it must stay inside the package) (got "../x.py")`,
			`plugin.json: options[0].choices[0].id: "enabled" is reserved`,
			`plugin.json: options[0].default: "enabled" is not the id of one of the choices (enabled)`,
			`plugin.json: extra: unknown key (allowed: id, name, script, version, description, author, sdk, capabilities, options, limits, commands, dashboard_bridge, instances)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := tt.file
			if file == "" {
				file = "plugin.json"
			}
			m, err := ParseManifest([]byte(tt.data), file)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("want valid, got:\n%v", err)
				}
				if m == nil || m.ID == "" || m.Script == "" {
					t.Fatalf("valid manifest decoded badly: %+v", m)
				}
				return
			}
			if err == nil {
				t.Fatalf("want problems %q, got valid manifest", tt.want)
			}
			if m != nil {
				t.Errorf("invalid manifest returned a *Manifest")
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %T is not a *ValidationError wrapping ErrInvalid", err)
			}
			if got := Lines(err); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n got: %q\nwant: %q", got, tt.want)
			}
		})
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestParseManifestSpec004Decoded(t *testing.T) {
	m := spec004(t)
	f := func(v float64) *float64 { return &v }
	want := &Manifest{ID: "my_example", Name: "Example Plugin", Script: "script.js", file: "plugin.json", Options: []Option{
		{ID: "my_checkbox", Name: "Example checkbox", Description: "Enable if you like checkboxes.", Type: "bool", Default: json.RawMessage(`false`)},
		{ID: "my_textbox", Name: "Example textbox", Description: "Enter your favorite word.", Type: "string", Default: json.RawMessage(`""`)},
		{ID: "my_number", Name: "Example number input", Description: "Specify your favorite number.", Type: "number", Default: json.RawMessage(`50`), Min: f(0), Max: f(100)},
		{ID: "my_dropdown", Name: "Example dropdown", Description: "Choose your preferred color.", Type: "select", Default: json.RawMessage(`"red"`),
			Choices: []Choice{{"red", "Red"}, {"yellow", "Yellow"}, {"green", "Green"}, {"blue", "Blue"}}},
	}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("decoded:\n got %+v\nwant %+v", m, want)
	}
	if got := m.File(); got != "plugin.json" {
		t.Errorf("File() = %q", got)
	}
}

func TestManifestScriptDefault(t *testing.T) {
	tests := []struct {
		name, file, data, want string
	}{
		{name: "manifest.json without script", file: "manifest.json", data: `{"id": "x", "name": "X"}`, want: "__main__.py"},
		{name: "manifest.json with script", file: "manifest.json", data: `{"id": "x", "name": "X", "script": "bot.py"}`, want: "bot.py"},
		{name: "path is reduced to its base name", file: "some/dir/manifest.json", data: `{"id": "x", "name": "X"}`, want: "__main__.py"},
		{name: "plugin.json with script", file: "plugin.json", data: `{"id": "x", "name": "X", "script": "bot.py"}`, want: "bot.py"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseManifest([]byte(tt.data), tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if m.Script != tt.want {
				t.Errorf("Script = %q, want %q", m.Script, tt.want)
			}
		})
	}
}

func TestManifestTooManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"id": "x", "name": "X", "script": "s.py", "capabilities": [`)
	for i := range 250 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"nope"`)
	}
	b.WriteString("]}")
	_, err := ParseManifest([]byte(b.String()), "plugin.json")
	lines := Lines(err)
	if len(lines) != MaxProblems+1 {
		t.Fatalf("got %d lines, want %d", len(lines), MaxProblems+1)
	}
	if last := lines[len(lines)-1]; last != "plugin.json: 50 more problems not shown" {
		t.Errorf("last line = %q", last)
	}
}

func TestValidateForUpload(t *testing.T) {
	tests := []struct {
		name string
		m    *Manifest
		want string // "" = valid
	}{
		{name: "with version", m: &Manifest{ID: "x", Name: "X", Script: "s.py", Version: "1.0.0"}},
		{name: "without version (derived at upload)", m: &Manifest{ID: "x", Name: "X", Script: "s.py"}},
		{name: "bad version", m: &Manifest{ID: "x", Name: "X", Script: "s.py", Version: "one"}, want: `manifest.json: version: must be a semantic version such as "1.2.3", got "one"`},
		{name: "other rules still apply", m: &Manifest{ID: "x y", Name: "X", Script: "s.py", Version: "1.0.0"}, want: `manifest.json: id: must contain only letters, digits, "-" and "_", got "x y"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.ValidateForUpload()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	m, err := ParseManifest([]byte(pj("")), "plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ValidateForUpload(); err != nil {
		t.Errorf("parsed plugin.json without version (spec 004 uploads as written): %v", err)
	}
}

func TestCapabilities(t *testing.T) {
	m, err := ParseManifest([]byte(pj(`"capabilities": ["storage:kv", "discord:read_members"]`)), "plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		cap  string
		want bool
	}{
		{name: "declared", cap: CapStorageKV, want: true},
		{name: "declared too", cap: CapDiscordReadMembers, want: true},
		{name: "not declared", cap: CapStorageSQL, want: false},
		{name: "unknown", cap: "storage", want: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.Has(tt.cap); got != tt.want {
				t.Errorf("Has(%q) = %v", tt.cap, got)
			}
		})
	}
	var nilM *Manifest
	if nilM.Has(CapStorageKV) {
		t.Error("nil manifest has a capability")
	}
	if len(KnownCapabilities) != 6 {
		t.Errorf("KnownCapabilities = %v", KnownCapabilities)
	}
	for _, c := range KnownCapabilities {
		if !IsKnownCapability(c) {
			t.Errorf("%q not known", c)
		}
	}
}

func TestLimitsEffective(t *testing.T) {
	def := Limits{MemoryMB: 64, EventTimeoutMS: 5000, DashboardTimeoutMS: 10000}
	max := Limits{MemoryMB: 256, EventTimeoutMS: 30000, DashboardTimeoutMS: 10000}
	tests := []struct {
		name string
		req  *Limits
		want Limits
	}{
		{name: "no request", req: nil, want: def},
		{name: "within caps", req: &Limits{MemoryMB: 128, EventTimeoutMS: 20000}, want: Limits{128, 20000, 10000}},
		{name: "capped", req: &Limits{MemoryMB: 4096, EventTimeoutMS: 60000, DashboardTimeoutMS: 60000}, want: max},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.req.Effective(def, max); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
