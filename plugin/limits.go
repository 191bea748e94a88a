package plugin

// Every size and count limit of the package format, in one place. The
// numbers are documented in docs/plugin-format.md; change both together.
const (
	// MaxEntries is the most entries (files and directories) a package may
	// hold, in a zip or on disk.
	MaxEntries = 2000
	// MaxUnpackedBytes bounds the total uncompressed size of a package.
	MaxUnpackedBytes = 50 << 20
	// MaxArchiveBytes bounds the size of a zip file itself. A zip is never
	// larger than its contents by much, so the unpacked cap applies.
	MaxArchiveBytes = MaxUnpackedBytes
	// MaxManifestBytes bounds manifest.json, plugin.json and
	// dashboard_manifest.json.
	MaxManifestBytes = 1 << 20
	// MaxCompressionRatio is the highest uncompressed/compressed ratio
	// allowed for an entry (and for the whole archive) once it is larger
	// than RatioCheckMinBytes. Real code and assets stay far below it; zip
	// bombs are far above it.
	MaxCompressionRatio = 100
	// RatioCheckMinBytes exempts small entries from the ratio check: a few
	// KiB of repeated text compress extremely well and are harmless.
	RatioCheckMinBytes = 1 << 20
	// MaxPathBytes bounds an entry's path inside the package.
	MaxPathBytes = 255
	// MaxPathDepth bounds how many directories deep an entry may be.
	MaxPathDepth = 16

	// MaxNameChars is spec 004's limit for plugin and option names.
	MaxNameChars = 64
	// MaxChoiceNameChars is spec 004's limit for choice names.
	MaxChoiceNameChars = 512
	// MaxIDChars bounds the plugin id (maid's addition to spec 004: the id
	// names files, containers and URLs).
	MaxIDChars = 128

	// Slash commands follow Discord's limits.
	MaxCommands                = 25
	MaxCommandOptions          = 25
	MaxCommandNameChars        = 32
	MaxCommandDescriptionChars = 100

	// Dashboard manifests: generous bounds so a renderer never meets an
	// unbounded page.
	MaxDashboardPages     = 32
	MaxWidgetsPerPage     = 64
	MaxFormFields         = 64
	MaxSelectFieldOptions = 256

	// MaxProblems stops a report after this many problems (fuzzed or broken
	// input can otherwise yield millions of lines).
	MaxProblems = 200

	// Bounds on limits requests: anything above is a typo, not a need; the
	// host caps real requests much lower.
	maxLimitMemoryMB  = 1 << 20
	maxLimitTimeoutMS = 24 * 60 * 60 * 1000
)

// File names of the package layout.
const (
	defaultScript             = "__main__.py"
	manifestFileName          = "manifest.json"
	pluginFileName            = "plugin.json"
	dashboardManifestFileName = "dashboard_manifest.json"
	dashboardDirName          = "dashboard"
	dashboardIndexName        = "dashboard/index.html"
)
