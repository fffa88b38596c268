package store

import (
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// versionTimeLayout is the time part of a version made by NewVersion: UTC,
// fixed width, so that versions sort lexically in time order.
const versionTimeLayout = "20060102T150405.000Z"

// NewVersion returns a new model version name: the time in UTC to the
// millisecond and 6 hex digits of entropy, e.g. "20261129T170655.123Z-a1b2c3".
// Versions made this way sort lexically by time (years 0000..9999); the
// entropy keeps two trainings in the same millisecond apart. Pass
// crypto/rand.Reader as entropy outside of tests.
func NewVersion(now time.Time, entropy io.Reader) (string, error) {
	var b [3]byte
	if _, err := io.ReadFull(entropy, b[:]); err != nil {
		return "", fmt.Errorf("new version: read entropy: %w", err)
	}
	return now.UTC().Format(versionTimeLayout) + "-" + hex.EncodeToString(b[:]), nil
}

// VersionTime returns the time encoded in a version made by NewVersion.
func VersionTime(version string) (time.Time, error) {
	ts, _, ok := strings.Cut(version, "-")
	if !ok {
		return time.Time{}, fmt.Errorf("version %q: not made by NewVersion", version)
	}
	t, err := time.Parse(versionTimeLayout, ts)
	if err != nil {
		return time.Time{}, fmt.Errorf("version %q: %w", version, err)
	}
	return t, nil
}

// ComparePluginVersions orders two versions of one plugin: semantic versions
// ("1.2.0", "v1.10.0-rc.1") by semver precedence, after every version that is
// not a semantic version; those among themselves lexically. It returns -1, 0
// or +1.
func ComparePluginVersions(a, b string) int {
	sa, okA := parseSemver(a)
	sb, okB := parseSemver(b)
	switch {
	case okA && okB:
		if c := sa.compare(sb); c != 0 {
			return c
		}
		return strings.Compare(a, b) // "v1.0.0" vs "1.0.0": any stable order
	case okA:
		return 1
	case okB:
		return -1
	default:
		return strings.Compare(a, b)
	}
}

// LatestPlugin returns the newest version of the named plugin in metas.
func LatestPlugin(metas []PluginMeta, name string) (PluginMeta, bool) {
	var best PluginMeta
	found := false
	for _, m := range metas {
		if m.Name != name {
			continue
		}
		if !found || ComparePluginVersions(m.Version, best.Version) > 0 {
			best, found = m, true
		}
	}
	return best, found
}

// sortPlugins sorts by name, then version (oldest first).
func sortPlugins(metas []PluginMeta) {
	sort.Slice(metas, func(i, j int) bool {
		if metas[i].Name != metas[j].Name {
			return metas[i].Name < metas[j].Name
		}
		return ComparePluginVersions(metas[i].Version, metas[j].Version) < 0
	})
}

type semver struct {
	num [3]uint64
	pre []string
}

// parseSemver parses MAJOR.MINOR.PATCH[-PRERELEASE] with an optional "v".
// Build metadata ("+...") cannot occur: '+' is not allowed in versions.
func parseSemver(s string) (semver, bool) {
	s = strings.TrimPrefix(s, "v")
	core, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return semver{}, false
	}
	var v semver
	for i, p := range parts {
		if !isNumeric(p) || (len(p) > 1 && p[0] == '0') {
			return semver{}, false
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return semver{}, false
		}
		v.num[i] = n
	}
	if hasPre {
		v.pre = strings.Split(pre, ".")
		for _, id := range v.pre {
			if id == "" {
				return semver{}, false
			}
		}
	}
	return v, true
}

func (a semver) compare(b semver) int {
	for i := range a.num {
		if a.num[i] != b.num[i] {
			if a.num[i] < b.num[i] {
				return -1
			}
			return 1
		}
	}
	// A release is newer than any of its pre-releases.
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		x, y := a.pre[i], b.pre[i]
		nx, ny := isNumeric(x), isNumeric(y)
		switch {
		case nx && ny:
			ix, _ := strconv.ParseUint(x, 10, 64)
			iy, _ := strconv.ParseUint(y, 10, 64)
			if ix != iy {
				if ix < iy {
					return -1
				}
				return 1
			}
		case nx:
			return -1 // numeric identifiers sort before alphanumeric ones
		case ny:
			return 1
		default:
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
		}
	}
	switch {
	case len(a.pre) < len(b.pre):
		return -1
	case len(a.pre) > len(b.pre):
		return 1
	}
	return 0
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
