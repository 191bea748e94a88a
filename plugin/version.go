package plugin

import (
	"fmt"
	"strings"
)

// CompareVersions compares two semantic versions by semver 2.0.0 precedence
// (build metadata ignored): -1 if a < b, 0 if equal, +1 if a > b.
func CompareVersions(a, b string) (int, error) {
	pa, err := splitVersion(a)
	if err != nil {
		return 0, err
	}
	pb, err := splitVersion(b)
	if err != nil {
		return 0, err
	}
	for i := range 3 {
		if c := cmpNumeric(pa.core[i], pb.core[i]); c != 0 {
			return c, nil
		}
	}
	switch {
	case len(pa.pre) == 0 && len(pb.pre) == 0:
		return 0, nil
	case len(pa.pre) == 0:
		return 1, nil // a release outranks its pre-releases
	case len(pb.pre) == 0:
		return -1, nil
	}
	for i := 0; i < len(pa.pre) && i < len(pb.pre); i++ {
		x, y := pa.pre[i], pb.pre[i]
		xn, yn := isNumeric(x), isNumeric(y)
		var c int
		switch {
		case xn && yn:
			c = cmpNumeric(x, y)
		case xn:
			c = -1 // numeric identifiers rank below alphanumeric ones
		case yn:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c, nil
		}
	}
	switch {
	case len(pa.pre) < len(pb.pre):
		return -1, nil
	case len(pa.pre) > len(pb.pre):
		return 1, nil
	}
	return 0, nil
}

type version struct {
	core [3]string
	pre  []string
}

func splitVersion(v string) (version, error) {
	if strings.HasPrefix(v, DerivedVersionPrefix) { // a derived version ranks as 0.0.0
		v = "0.0.0+" + v[len("0+"):]
	}
	if !semverRe.MatchString(v) {
		return version{}, fmt.Errorf("compare versions: %w: %q is not a semantic version", ErrInvalid, v)
	}
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i]
	}
	var out version
	if i := strings.IndexByte(v, '-'); i >= 0 {
		out.pre = strings.Split(v[i+1:], ".")
		v = v[:i]
	}
	copy(out.core[:], strings.SplitN(v, ".", 3))
	return out, nil
}

func isNumeric(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// cmpNumeric compares digit strings without leading zeros of any length.
func cmpNumeric(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// SupportedBy reports an error when the manifest's minimum SDK version is
// newer than hostSDK (the SDK the host ships). A manifest without sdk is
// supported by every host.
func (m *Manifest) SupportedBy(hostSDK string) error {
	if m.SDK == "" {
		return nil
	}
	c, err := CompareVersions(m.SDK, hostSDK)
	if err != nil {
		return fmt.Errorf("check sdk version: %w", err)
	}
	if c > 0 {
		return fmt.Errorf("check sdk version: %w: plugin %q needs SDK %s, this host ships %s", ErrInvalid, m.ID, m.SDK, hostSDK)
	}
	return nil
}
