package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Manifest is a plugin's manifest.json or plugin.json (one schema). Spec 004
// is normative for id, name, script and options; the rest is maid's
// (docs/plugin-format.md).
type Manifest struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Script       string    `json:"script"`
	Version      string    `json:"version,omitempty"`
	Description  string    `json:"description,omitempty"` // HTML, stored as given; renderers sanitize
	Author       string    `json:"author,omitempty"`
	SDK          string    `json:"sdk,omitempty"` // minimum SDK version, e.g. "0.5.1"
	Capabilities []string  `json:"capabilities,omitempty"`
	Options      []Option  `json:"options,omitempty"`
	Limits       *Limits   `json:"limits,omitempty"`
	Commands     []Command `json:"commands,omitempty"`
	// DashboardBridge is what an iframe dashboard may do through the host
	// bridge (kv, metrics, sql): BridgeReadWrite (default, "") or
	// BridgeReadOnly. maid's key; optional in both manifest files.
	DashboardBridge string `json:"dashboard_bridge,omitempty"`
	// Instances is how many instances the host runs: InstancesPerPlugin
	// (default, "") or InstancesPerServer, one per (plugin, server), so
	// module globals never hold two servers' data. maid's key; optional
	// in both manifest files. An operator may impose per_server on every
	// plugin (maid serve --instances); a plugin cannot opt out of that.
	Instances string `json:"instances,omitempty"`

	file string // manifest file name it was parsed from, for messages
}

// Dashboard bridge access (the "dashboard_bridge" key).
const (
	BridgeReadWrite = "read_write"
	BridgeReadOnly  = "read_only"
)

// Instance modes (the "instances" key).
const (
	InstancesPerPlugin = "per_plugin"
	InstancesPerServer = "per_server"
)

// Option types (spec 004).
const (
	OptionBool   = "bool"   // checkbox; value true or false
	OptionString = "string" // textbox; value a string
	OptionNumber = "number" // number input; value any JSON number
	OptionSelect = "select" // dropdown; value the id of one choice
)

// Option is one user-configurable option (spec 004).
type Option struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"` // HTML, stored as given; renderers sanitize
	Type        string          `json:"type"`
	Default     json.RawMessage `json:"default"`
	Min         *float64        `json:"min,omitempty"` // number only; not validated against max or default (spec 004)
	Max         *float64        `json:"max,omitempty"`
	Choices     []Choice        `json:"choices,omitempty"` // select only
}

// Choice is one entry of a select option.
type Choice struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Limits are a plugin's resource requests. Zero means "host default"; the
// host caps every request (see Effective).
type Limits struct {
	MemoryMB           int `json:"memory_mb,omitempty"`
	EventTimeoutMS     int `json:"event_timeout_ms,omitempty"`
	DashboardTimeoutMS int `json:"dashboard_timeout_ms,omitempty"`
}

// Effective returns the requests in l (nil: none) with def filling values
// not requested and max capping the rest (a zero max means no cap).
func (l *Limits) Effective(def, max Limits) Limits {
	var req Limits
	if l != nil {
		req = *l
	}
	pick := func(r, d, m int) int {
		if r <= 0 {
			r = d
		}
		if m > 0 && r > m {
			r = m
		}
		return r
	}
	return Limits{
		MemoryMB:           pick(req.MemoryMB, def.MemoryMB, max.MemoryMB),
		EventTimeoutMS:     pick(req.EventTimeoutMS, def.EventTimeoutMS, max.EventTimeoutMS),
		DashboardTimeoutMS: pick(req.DashboardTimeoutMS, def.DashboardTimeoutMS, max.DashboardTimeoutMS),
	}
}

// Command is a Discord slash command the plugin handles
// (protocol: plugin.command).
type Command struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Options     []CommandOption `json:"options,omitempty"`
}

// CommandOption is one argument of a slash command.
type CommandOption struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Type        string `json:"type"`
	Required    bool   `json:"required,omitempty"`
}

// CommandOptionTypes are the argument types a command option may have
// (Discord's application command option types, by name).
var CommandOptionTypes = []string{"string", "integer", "number", "boolean", "user", "channel", "role", "mentionable"}

// OptionTypes lists spec 004's option types in the spec's order.
var OptionTypes = []string{OptionBool, OptionString, OptionNumber, OptionSelect}

var (
	idRe          = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	commandNameRe = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	// semverRe is the regular expression of semver.org 2.0.0.
	semverRe = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)
)

const idRule = `must contain only letters, digits, "-" and "_"`

var manifestKeys = []string{"id", "name", "script", "version", "description", "author", "sdk", "capabilities", "options", "limits", "commands", "dashboard_bridge", "instances"}

// ParseManifest parses and validates a manifest. fileName is the file's name
// ("manifest.json" or "plugin.json"; only its base name counts): it labels
// problems and decides whether script may be omitted (manifest.json, the SDK
// form, defaults it to "__main__.py"; plugin.json requires it, as spec 004
// says). Whether the script exists is checked by LoadDir, which sees the
// files. On any problem it returns a *ValidationError listing all of them.
func ParseManifest(data []byte, fileName string) (*Manifest, error) {
	file := path.Base(strings.ReplaceAll(fileName, `\`, "/"))
	if fileName == "" {
		file = manifestFileName
	}
	m, ps := parseManifest(data, file, nil)
	if err := ps.err(file); err != nil {
		return nil, err
	}
	return m, nil
}

// parseManifest does the work of ParseManifest. fileRule, when set, says why
// a (well-formed) script path is not a file of the package, or "".
func parseManifest(data []byte, file string, fileRule func(string) string) (*Manifest, *problems) {
	ps := &problems{}
	m := &Manifest{file: file}
	w, o, ok := openDocument(ps, data)
	if !ok {
		return m, ps
	}

	if id, ok := o.str("id", true); ok {
		m.ID = id
		checkID(ps, "id", id)
		if n := utf8.RuneCountInString(id); n > MaxIDChars {
			ps.add("id", "must be at most %d characters, got %d", MaxIDChars, n)
		}
	}
	if name, ok := o.str("name", true); ok {
		m.Name = name
		checkName(ps, "name", name, MaxNameChars)
	}
	if script, ok := o.str("script", file != manifestFileName); ok {
		m.Script = script
		if rule := checkRelPath(script); rule != "" {
			ps.add("script", "%s (got %q)", rule, script)
		} else if fileRule != nil {
			if rule := fileRule(script); rule != "" {
				ps.add("script", "%s", rule)
			}
		}
	} else if !o.has("script") && file == manifestFileName {
		m.Script = defaultScript
		if fileRule != nil {
			if rule := fileRule(defaultScript); rule != "" {
				ps.add("script", "%s", rule)
			}
		}
	}
	if v, ok := o.str("version", false); ok {
		m.Version = v
		checkVersion(ps, "version", v)
	}
	if v, ok := o.str("description", false); ok {
		m.Description = v
	}
	if v, ok := o.str("author", false); ok {
		m.Author = v
	}
	if v, ok := o.str("sdk", false); ok {
		m.SDK = v
		checkVersion(ps, "sdk", v)
	}
	if elems, ok := o.array("capabilities", false); ok {
		m.Capabilities = []string{}
		seen := map[string]int{}
		for i, raw := range elems {
			p := indexPath("capabilities", i)
			c, ok := w.str(p, raw)
			if !ok {
				continue
			}
			switch j, dup := seen[c]; {
			case dup:
				ps.add(p, "capability %q is already listed at capabilities[%d]", c, j)
			case !IsKnownCapability(c):
				msg := fmt.Sprintf("unknown capability %q", c)
				if s := suggest(c, KnownCapabilities); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else {
					msg += " (known: " + strings.Join(KnownCapabilities, ", ") + ")"
				}
				ps.add(p, "%s", msg)
			default:
				seen[c] = i
				m.Capabilities = append(m.Capabilities, c)
			}
		}
	}
	if elems, ok := o.array("options", false); ok {
		m.Options = parseOptions(w, elems)
	}
	if lo, ok := o.child("limits", false); ok {
		l := &Limits{}
		if n, ok := lo.integer("memory_mb", 1, maxLimitMemoryMB); ok {
			l.MemoryMB = int(n)
		}
		if n, ok := lo.integer("event_timeout_ms", 1, maxLimitTimeoutMS); ok {
			l.EventTimeoutMS = int(n)
		}
		if n, ok := lo.integer("dashboard_timeout_ms", 1, maxLimitTimeoutMS); ok {
			l.DashboardTimeoutMS = int(n)
		}
		lo.done("memory_mb", "event_timeout_ms", "dashboard_timeout_ms")
		m.Limits = l
	}
	if elems, ok := o.array("commands", false); ok {
		m.Commands = parseCommands(w, elems)
	}
	if v, ok := o.str("dashboard_bridge", false); ok {
		if v != BridgeReadWrite && v != BridgeReadOnly {
			ps.add("dashboard_bridge", "must be %q or %q, got %q", BridgeReadOnly, BridgeReadWrite, v)
		}
		m.DashboardBridge = v
	}
	if v, ok := o.str("instances", false); ok {
		if v != InstancesPerPlugin && v != InstancesPerServer {
			ps.add("instances", "must be %q or %q, got %q", InstancesPerPlugin, InstancesPerServer, v)
		}
		m.Instances = v
	}
	o.done(manifestKeys...)
	return m, ps
}

func parseOptions(w *walker, elems []json.RawMessage) []Option {
	ps := w.ps
	opts := make([]Option, 0, len(elems))
	seen := firstUse{}
	for i, o := range w.objects("options", elems) {
		p := o.path
		var opt Option
		if id, ok := o.uniqueKey("id", checkID, seen, "option id %q is already used by %s", i, "options"); ok {
			opt.ID = id
		}
		if name, ok := o.str("name", true); ok {
			opt.Name = name
			checkName(ps, joinPath(p, "name"), name, MaxNameChars)
		}
		if d, ok := o.str("description", false); ok {
			opt.Description = d
		}
		var known string
		opt.Type, known = o.enum("type", OptionTypes)
		typeOK := known != ""
		opt.Min, _ = o.number("min")
		opt.Max, _ = o.number("max")
		choiceIDs := firstUse{}
		if elems, ok := o.array("choices", false); ok {
			opt.Choices = parseChoices(w, joinPath(p, "choices"), elems, choiceIDs)
			if typeOK && opt.Type == OptionSelect && len(elems) == 0 {
				ps.add(joinPath(p, "choices"), "must have at least one choice for a select option")
			}
		} else if typeOK && opt.Type == OptionSelect && !o.has("choices") {
			ps.add(joinPath(p, "choices"), "is required for a select option")
		}
		if raw, ok := o.get("default"); !ok {
			ps.add(joinPath(p, "default"), "is required")
		} else {
			opt.Default = json.RawMessage(compact(raw))
			if typeOK {
				checkDefault(w, joinPath(p, "default"), opt, raw, choiceIDs, o.has("choices"))
			}
		}
		o.done("id", "name", "description", "type", "default", "min", "max", "choices")
		opts = append(opts, opt)
	}
	return opts
}

func parseChoices(w *walker, path string, elems []json.RawMessage, ids firstUse) []Choice {
	ps := w.ps
	choices := make([]Choice, 0, len(elems))
	for i, o := range w.objects(path, elems) {
		p := o.path
		var c Choice
		if id, ok := o.str("id", true); ok {
			c.ID = id
			switch {
			case !checkID(ps, joinPath(p, "id"), id):
			case id == "enabled":
				ps.add(joinPath(p, "id"), `"enabled" is reserved`)
			default:
				ids.claim(ps, joinPath(p, "id"), "choice id %q is already used by %s", id, i, path)
			}
		}
		if name, ok := o.str("name", true); ok {
			c.Name = name
			checkName(ps, joinPath(p, "name"), name, MaxChoiceNameChars)
		}
		o.done("id", "name")
		choices = append(choices, c)
	}
	return choices
}

// checkDefault checks an option's default against its (valid) type.
func checkDefault(w *walker, p string, opt Option, raw json.RawMessage, choiceIDs firstUse, hasChoices bool) {
	k := kind(raw)
	switch opt.Type {
	case OptionBool:
		if k != "boolean" {
			w.ps.add(p, "must be a boolean (true or false) for a bool option, got %s", k)
		}
	case OptionString:
		if k != "string" {
			w.ps.add(p, "must be a string for a string option, got %s", k)
		}
	case OptionNumber:
		if k != "number" {
			w.ps.add(p, "must be a number for a number option, got %s", k)
			return
		}
		w.number(p, raw)
	case OptionSelect:
		if k != "string" {
			w.ps.add(p, "must be a string (the id of one of the choices) for a select option, got %s", k)
			return
		}
		s, ok := w.str(p, raw)
		if !ok || !hasChoices {
			return
		}
		if _, found := choiceIDs[s]; !found {
			ids := make([]string, 0, len(opt.Choices))
			for _, c := range opt.Choices {
				ids = append(ids, c.ID)
			}
			w.ps.add(p, "%q is not the id of one of the choices (%s)", s, strings.Join(ids, ", "))
		}
	}
}

func parseCommands(w *walker, elems []json.RawMessage) []Command {
	ps := w.ps
	if len(elems) > MaxCommands {
		ps.add("commands", "must have at most %d commands, got %d", MaxCommands, len(elems))
	}
	cmds := make([]Command, 0, len(elems))
	seen := firstUse{}
	for i, o := range w.objects("commands", elems) {
		p := o.path
		var c Command
		if name, ok := o.uniqueKey("name", checkCommandName, seen, "command %q is already defined by %s", i, "commands"); ok {
			c.Name = name
		}
		if d, ok := o.str("description", true); ok {
			c.Description = d
			checkDescription(ps, joinPath(p, "description"), d)
		}
		if elems, ok := o.array("options", false); ok {
			c.Options = parseCommandOptions(w, joinPath(p, "options"), elems)
		}
		o.done("name", "description", "options")
		cmds = append(cmds, c)
	}
	return cmds
}

func parseCommandOptions(w *walker, path string, elems []json.RawMessage) []CommandOption {
	ps := w.ps
	if len(elems) > MaxCommandOptions {
		ps.add(path, "must have at most %d options, got %d", MaxCommandOptions, len(elems))
	}
	opts := make([]CommandOption, 0, len(elems))
	seen := firstUse{}
	optional := -1 // index of the first optional argument
	for i, o := range w.objects(path, elems) {
		p := o.path
		var c CommandOption
		if name, ok := o.uniqueKey("name", checkCommandName, seen, "option %q is already defined by %s", i, path); ok {
			c.Name = name
		}
		if d, ok := o.str("description", true); ok {
			c.Description = d
			checkDescription(ps, joinPath(p, "description"), d)
		}
		c.Type, _ = o.enum("type", CommandOptionTypes)
		if r, ok := o.boolean("required", false); ok {
			c.Required = r
		}
		switch {
		case !c.Required && optional < 0:
			optional = i
		case c.Required && optional >= 0:
			ps.add(joinPath(p, "required"), "required options must come before optional ones (%s is optional)", indexPath(path, optional))
		}
		o.done("name", "description", "type", "required")
		opts = append(opts, c)
	}
	return opts
}

// checkID applies spec 004's id charset; it reports and returns false on failure.
func checkID(ps *problems, p, id string) bool {
	if id == "" {
		ps.add(p, "must not be empty")
		return false
	}
	if !idRe.MatchString(id) {
		ps.add(p, "%s, got %q", idRule, id)
		return false
	}
	return true
}

// checkName requires a non-blank name of at most max characters (runes, not
// bytes: "no more than 64 characters" is what a user counts).
func checkName(ps *problems, p, name string, max int) {
	if strings.TrimSpace(name) == "" {
		ps.add(p, "must not be empty")
		return
	}
	if n := utf8.RuneCountInString(name); n > max {
		ps.add(p, "must be at most %d characters, got %d", max, n)
	}
}

func checkCommandName(ps *problems, p, name string) bool {
	if !commandNameRe.MatchString(name) {
		ps.add(p, "must be 1 to %d lowercase letters, digits, \"-\" or \"_\", got %q", MaxCommandNameChars, name)
		return false
	}
	return true
}

func checkDescription(ps *problems, p, d string) {
	if strings.TrimSpace(d) == "" {
		ps.add(p, "must not be empty (Discord requires a description)")
		return
	}
	if n := utf8.RuneCountInString(d); n > MaxCommandDescriptionChars {
		ps.add(p, "must be at most %d characters, got %d", MaxCommandDescriptionChars, n)
	}
}

func checkVersion(ps *problems, p, v string) {
	if semverRe.MatchString(v) {
		return
	}
	if strings.HasPrefix(v, "v") && semverRe.MatchString(v[1:]) {
		ps.add(p, "must be a semantic version without the leading \"v\" (e.g. %q), got %q", v[1:], v)
		return
	}
	ps.add(p, "must be a semantic version such as \"1.2.3\", got %q", v)
}

// checkRelPath returns why p is not a clean relative path inside the package
// ("" if it is).
func checkRelPath(p string) string {
	switch {
	case p == "":
		return "must not be empty"
	case strings.ContainsRune(p, '\\'):
		return `must use "/" as separator, not "\"`
	case strings.HasPrefix(p, "/") || len(p) >= 2 && p[1] == ':':
		return "must be a relative path"
	case !utf8.ValidString(p):
		return "must be valid UTF-8"
	case strings.IndexFunc(p, unicode.IsControl) >= 0:
		return "must not contain control characters"
	case len(p) > MaxPathBytes:
		return fmt.Sprintf("must be at most %d bytes long", MaxPathBytes)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return `must not contain ".." (it must stay inside the package)`
		}
	}
	if path.Clean(p) != p {
		return `must be a clean path (no ".", empty or trailing segments)`
	}
	return ""
}

func compact(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return append([]byte(nil), raw...)
	}
	return b.Bytes()
}

// ValidateForUpload applies the marketplace's rules on top of the format.
// A version is not required (spec 004's plugin.json has none): the
// marketplace derives one from the content (Package.EffectiveVersion).
func (m *Manifest) ValidateForUpload() error {
	ps := &problems{}
	file := m.file
	if file == "" {
		file = manifestFileName
	}
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("validate manifest for upload: %w", err)
	}
	// Re-parse so a Manifest built in code meets the same rules as a file.
	_, ps = parseManifest(data, file, nil)
	return ps.err(file)
}

// File returns the name of the file m was parsed from ("manifest.json" when
// unknown).
func (m *Manifest) File() string {
	if m.file == "" {
		return manifestFileName
	}
	return m.file
}
