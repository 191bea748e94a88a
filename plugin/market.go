package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// The marketplace's parts of a package (docs/plugin-format.md): the
// canonical hash that versions and signatures are computed over, the
// version derived from it when the manifest has none, the assets/ folder
// (icon and screenshots) and the changelog.

// Bounds of the marketplace's package parts; docs/plugin-format.md lists
// them too.
const (
	// MaxAssets is the most files assets/ may hold (an icon and screenshots).
	MaxAssets = 9
	// MaxAssetBytes bounds one asset file.
	MaxAssetBytes = 1 << 20
	// MaxChangelogBytes bounds CHANGELOG.md.
	MaxChangelogBytes = 64 << 10
	// MaxDescriptionMarkdownBytes bounds the description the catalogue
	// renders as Markdown.
	MaxDescriptionMarkdownBytes = 16 << 10
)

// File names of the marketplace parts.
const (
	SignatureFile = "signature.json"
	ChangelogFile = "CHANGELOG.md"
	AssetsDir     = "assets"
)

// assetTypes are the image types assets/ may hold, by extension. SVG is not
// one of them: an SVG document can carry script.
var assetTypes = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
}

// AssetType returns the Content-Type of an asset file name, or "" if the
// name is not an allowed image type.
func AssetType(name string) string { return assetTypes[strings.ToLower(path.Ext(name))] }

// Assets are a package's catalogue images: assets/icon.<ext> and
// assets/screenshot*.<ext>, as slash paths relative to the package.
type Assets struct {
	Icon        string
	Screenshots []string
}

// MarketProblems checks the marketplace parts of a package (assets/,
// CHANGELOG.md, the description's size) and returns a *ValidationError
// listing what breaks the rules, or nil.
func (p *Package) MarketProblems() error {
	ps := &problems{}
	n := 0
	for _, f := range p.Files {
		if !strings.HasPrefix(f, AssetsDir+"/") {
			continue
		}
		n++
		base := strings.TrimPrefix(f, AssetsDir+"/")
		switch {
		case strings.Contains(base, "/"):
			ps.add(f, "assets/ holds files only, no folders")
		case AssetType(base) == "":
			ps.add(f, "must be a .png, .jpg, .jpeg, .gif or .webp image (SVG can carry script and is not served)")
		case !strings.HasPrefix(base, "icon.") && !strings.HasPrefix(base, "screenshot"):
			ps.add(f, "must be named icon.<ext> or screenshot<anything>.<ext>")
		}
		if fi, err := os.Stat(p.path(f)); err == nil && fi.Size() > MaxAssetBytes {
			ps.add(f, "must be at most %d bytes, got %d", MaxAssetBytes, fi.Size())
		}
	}
	if n > MaxAssets {
		ps.add(AssetsDir+"/", "may hold at most %d files, got %d", MaxAssets, n)
	}
	if fi, err := os.Stat(p.path(ChangelogFile)); err == nil && fi.Size() > MaxChangelogBytes {
		ps.add(ChangelogFile, "must be at most %d bytes, got %d", MaxChangelogBytes, fi.Size())
	}
	if p.Manifest != nil && len(p.Manifest.Description) > MaxDescriptionMarkdownBytes {
		ps.add("description", "must be at most %d bytes, got %d", MaxDescriptionMarkdownBytes, len(p.Manifest.Description))
	}
	return ps.err("")
}

func (p *Package) path(rel string) string { return filepath.Join(p.Dir, filepath.FromSlash(rel)) }

// Assets returns the package's valid catalogue images.
func (p *Package) Assets() Assets {
	var a Assets
	for _, f := range p.Files {
		base, ok := strings.CutPrefix(f, AssetsDir+"/")
		if !ok || strings.Contains(base, "/") || AssetType(base) == "" {
			continue
		}
		switch {
		case strings.HasPrefix(base, "icon.") && a.Icon == "":
			a.Icon = f
		case strings.HasPrefix(base, "screenshot") && len(a.Screenshots) < MaxAssets:
			a.Screenshots = append(a.Screenshots, f)
		}
	}
	return a
}

// Changelog returns CHANGELOG.md (Markdown, at most MaxChangelogBytes), or
// "" when the package has none.
func (p *Package) Changelog() string {
	data, err := readLimited(p.path(ChangelogFile), MaxChangelogBytes)
	if err != nil {
		return ""
	}
	if len(data) > MaxChangelogBytes {
		data = data[:MaxChangelogBytes]
	}
	return string(data)
}

// CanonicalHash is the package's content hash, which derived versions and
// signatures use. It is SHA-256 over the line "maid-package-v1" and then,
// for every packaged file but signature.json, sorted by path (byte order),
// the line "<sha256 of the file, hex> <size> <path>". It depends on the
// files only, never on how a zip compressed them, so a package hashes the
// same as a directory, as a zip, and after a trip through the store.
func (p *Package) CanonicalHash() ([32]byte, error) {
	h := sha256.New()
	io.WriteString(h, "maid-package-v1\n")
	for _, f := range p.Files { // sorted by LoadDir
		if f == SignatureFile {
			continue
		}
		fh := sha256.New()
		fd, err := os.Open(p.path(f))
		if err != nil {
			return [32]byte{}, fmt.Errorf("hash package: %w", err)
		}
		n, err := io.Copy(fh, io.LimitReader(fd, MaxUnpackedBytes+1))
		fd.Close()
		if err != nil {
			return [32]byte{}, fmt.Errorf("hash package: %s: %w", f, err)
		}
		io.WriteString(h, hex.EncodeToString(fh.Sum(nil))+" "+strconv.FormatInt(n, 10)+" "+f+"\n")
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}

// DerivedVersionPrefix starts the version of a package whose manifest has
// none (spec 004's plugin.json has no version key).
const DerivedVersionPrefix = "0+sha."

// EffectiveVersion is the manifest's version, or "0+sha.<first 7 hex
// digits of the canonical hash>" when it has none. A derived version ranks
// as 0.0.0, below every release.
func (p *Package) EffectiveVersion() (string, error) {
	if p.Manifest != nil && p.Manifest.Version != "" {
		return p.Manifest.Version, nil
	}
	h, err := p.CanonicalHash()
	if err != nil {
		return "", err
	}
	return DerivedVersionPrefix + hex.EncodeToString(h[:])[:7], nil
}

// ScriptWarning returns a warning when the script is not a .py file: maid
// runs every script with Python (spec 004's own example names script.js).
func (m *Manifest) ScriptWarning() string {
	if m == nil || strings.HasSuffix(strings.ToLower(m.Script), ".py") {
		return ""
	}
	return fmt.Sprintf("script %q is not a .py file: maid runs it with Python whatever its name says", m.Script)
}

// capabilityWords says what each capability lets a plugin do, in plain
// words: the one table the catalogue and the consent screen show.
var capabilityWords = map[string]string{
	CapStorageKV:           "Store its own data for your server (key-value storage)",
	CapStorageSQL:          "Keep its own database for your server (SQL)",
	CapMetricsWrite:        "Record statistics shown on your dashboard",
	CapDiscordSendMessages: "Send, edit and delete messages and reactions in your server's channels",
	CapDiscordManageRoles:  "Give members roles and take roles away",
	CapDiscordReadMembers:  "Read members' profiles (names, roles, join dates)",
}

// DescribeCapability returns a capability in plain words.
func DescribeCapability(c string) string {
	if w, ok := capabilityWords[c]; ok {
		return w
	}
	return "Unknown capability " + strconv.Quote(c)
}
