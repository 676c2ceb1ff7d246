package version

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"

	apiversion "k8s.io/apimachinery/pkg/version"
)

// KubernetesVersion is the Kubernetes release whose API skiff serves. kubectl compares its own minor
// version with the server's, so this must track the k8s.io/* module versions in go.mod.
const KubernetesVersion = "v1.37.2"

// These are variables, not constants, so the release build can stamp them:
//
//	go build -ldflags "-X github.com/skiff-dev/skiff/internal/version.Version=0.2.0 \
//	  -X github.com/skiff-dev/skiff/internal/version.GitCommit=$(git rev-parse HEAD) \
//	  -X github.com/skiff-dev/skiff/internal/version.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
var (
	// Version is skiff's own release (semver without the leading "v").
	Version = "0.1.0-dev"
	// GitCommit is the full commit hash the binary was built from; empty when unknown.
	GitCommit = ""
	// GitTreeState is "clean" or "dirty"; empty when unknown.
	GitTreeState = ""
	// BuildDate is the build time in RFC 3339 UTC; Kubernetes clients display it as-is.
	BuildDate = "1970-01-01T00:00:00Z"
)

// GitVersion is the version string /version reports: the Kubernetes version with skiff's release as
// semver build metadata, e.g. "v1.37.2+skiff.0.1.0-dev". Build metadata is ignored when versions are
// compared, so kubectl sees exactly v1.37.2 and prints no skew warning, while `kubectl version`
// still shows which skiff is answering.
func GitVersion() string {
	return KubernetesVersion + "+skiff." + buildMetadata(Version)
}

// buildMetadata turns a free-form release string into valid semver build metadata, which allows only
// [0-9A-Za-z-] in dot-separated identifiers; anything else (an ldflags typo, a "+") would make the
// whole GitVersion unparsable for clients.
func buildMetadata(s string) string {
	s = strings.TrimPrefix(s, "v")
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	// Empty identifiers ("1..2", leading or trailing dots) are invalid too.
	parts := strings.Split(b.String(), ".")
	kept := parts[:0]
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		return "unknown"
	}
	return strings.Join(kept, ".")
}

// Info is the body of GET /version, in the shape kubectl and client-go's discovery decode.
func Info() apiversion.Info {
	major, minor := majorMinor(KubernetesVersion)
	return apiversion.Info{
		Major: major,
		Minor: minor,
		// skiff emulates no older release, and like a default kube-apiserver it stays compatible
		// with one minor release back; recent clients read these fields when present.
		EmulationMajor:        major,
		EmulationMinor:        minor,
		MinCompatibilityMajor: major,
		MinCompatibilityMinor: previousMinor(minor),
		GitVersion:            GitVersion(),
		GitCommit:             GitCommit,
		GitTreeState:          GitTreeState,
		BuildDate:             BuildDate,
		GoVersion:             runtime.Version(),
		Compiler:              runtime.Compiler,
		Platform:              fmt.Sprintf("%s/%s", runtime.GOOS, runtime.GOARCH),
	}
}

func previousMinor(minor string) string {
	n, err := strconv.Atoi(minor)
	if err != nil || n == 0 {
		return minor
	}
	return strconv.Itoa(n - 1)
}

// majorMinor splits "v1.37.2" into "1" and "37"; Kubernetes reports these as bare digit strings.
func majorMinor(v string) (string, string) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return parts[0], ""
	}
	return parts[0], parts[1]
}
