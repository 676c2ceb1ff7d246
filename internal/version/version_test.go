package version

import (
	"encoding/json"
	"runtime"
	"testing"

	utilversion "k8s.io/apimachinery/pkg/util/version"
	apiversion "k8s.io/apimachinery/pkg/version"
)

func TestGitVersionIsSemverWithServedRelease(t *testing.T) {
	defer func(v string) { Version = v }(Version)
	tests := []struct {
		skiff    string
		want     string
		wantMeta string
	}{
		{"0.1.0-dev", "v1.37.2+skiff.0.1.0-dev", "skiff.0.1.0-dev"},
		{"1", "v1.37.2+skiff.1", "skiff.1"},
		{"v0.3.0", "v1.37.2+skiff.0.3.0", "skiff.0.3.0"},
		{"0.2.0+abc/def", "v1.37.2+skiff.0.2.0-abc-def", "skiff.0.2.0-abc-def"},
		{"..", "v1.37.2+skiff.unknown", "skiff.unknown"},
		{"", "v1.37.2+skiff.unknown", "skiff.unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.skiff, func(t *testing.T) {
			Version = tt.skiff
			got := GitVersion()
			if got != tt.want {
				t.Fatalf("GitVersion() = %q, want %q", got, tt.want)
			}
			// kubectl's skew check parses the server's GitVersion with ParseSemantic; a parse error
			// or a different major.minor would make it warn.
			v, err := utilversion.ParseSemantic(got)
			if err != nil {
				t.Fatalf("ParseSemantic(%q): %v", got, err)
			}
			if v.Major() != 1 || v.Minor() != 37 || v.Patch() != 2 || v.PreRelease() != "" {
				t.Errorf("parsed %q as %d.%d.%d-%s, want 1.37.2 with no pre-release", got, v.Major(), v.Minor(), v.Patch(), v.PreRelease())
			}
			if v.BuildMetadata() != tt.wantMeta {
				t.Errorf("build metadata = %q, want %q", v.BuildMetadata(), tt.wantMeta)
			}
			if c, _ := v.Compare(KubernetesVersion); c != 0 {
				t.Errorf("%q does not compare equal to %q", got, KubernetesVersion)
			}
		})
	}
}

func TestInfo(t *testing.T) {
	defer func(c, d string) { GitCommit, BuildDate = c, d }(GitCommit, BuildDate)
	GitCommit, BuildDate = "0123abcd", "2026-01-02T03:04:05Z"

	got := Info()
	want := apiversion.Info{
		Major:                 "1",
		Minor:                 "37",
		EmulationMajor:        "1",
		EmulationMinor:        "37",
		MinCompatibilityMajor: "1",
		MinCompatibilityMinor: "36",
		GitVersion:            GitVersion(),
		GitCommit:             "0123abcd",
		BuildDate:             "2026-01-02T03:04:05Z",
		GoVersion:             runtime.Version(),
		Compiler:              runtime.Compiler,
		Platform:              runtime.GOOS + "/" + runtime.GOARCH,
	}
	if got != want {
		t.Fatalf("Info() = %+v\nwant %+v", got, want)
	}
	// The wire form is what kubectl decodes; check the field names it expects.
	raw, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"major", "minor", "gitVersion", "gitCommit", "buildDate", "goVersion", "compiler", "platform"} {
		if m[k] == "" {
			t.Errorf("JSON field %q missing or empty in %s", k, raw)
		}
	}
}

func TestMajorMinor(t *testing.T) {
	tests := []struct{ in, major, minor string }{
		{"v1.37.2", "1", "37"},
		{"1.40.0", "1", "40"},
		{"v2", "2", ""},
	}
	for _, tt := range tests {
		ma, mi := majorMinor(tt.in)
		if ma != tt.major || mi != tt.minor {
			t.Errorf("majorMinor(%q) = %q, %q; want %q, %q", tt.in, ma, mi, tt.major, tt.minor)
		}
	}
}
