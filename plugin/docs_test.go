package plugin

import (
	"os"
	"strings"
	"testing"
)

// The examples in docs/plugin-format.md must stay valid.
func TestDocExamples(t *testing.T) {
	data, err := os.ReadFile("../docs/plugin-format.md")
	if err != nil {
		t.Fatal(err)
	}
	var manifests, dashboards int
	parts := strings.Split(string(data), "```json\n")
	for _, p := range parts[1:] {
		block := p[:strings.Index(p, "```")]
		if !strings.HasPrefix(block, "{") {
			continue // a fragment such as "limits": {...}
		}
		switch {
		case strings.Contains(block, `"pages"`):
			dashboards++
			if _, err := ParseDashboardManifest([]byte(block)); err != nil {
				t.Errorf("dashboard example:\n%v\n%s", err, block)
			}
		default:
			manifests++
			file := "manifest.json"
			if strings.Contains(block, `"script"`) {
				file = "plugin.json"
			}
			m, err := ParseManifest([]byte(block), file)
			if err != nil {
				t.Errorf("manifest example:\n%v\n%s", err, block)
				continue
			}
			if err := m.ValidateForUpload(); err != nil {
				t.Errorf("manifest example not uploadable: %v", err)
			}
		}
	}
	if manifests != 2 || dashboards != 1 {
		t.Errorf("found %d manifest and %d dashboard examples, want 2 and 1", manifests, dashboards)
	}
}
