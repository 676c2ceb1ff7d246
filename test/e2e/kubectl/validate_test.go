package kubectl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeManifest(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// What a user sees when a manifest is wrong. kubectl validates strictly by default: the server
// decodes with fieldValidation=Strict and refuses unknown fields.
func TestValidation(t *testing.T) {
	ns := namespace(t, "validation")
	unknown := writeManifest(t, "unknown.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unknown\n  bogus: 1\ndata:\n  a: \"1\"\nspex: {}\n")
	dep, err := os.ReadFile(filepath.Join(repoRoot, "examples", "nginx-deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderr     string
		skipIfErr  string // a known bug's message: skip instead of failing
		skipReason string
	}{
		{
			name: "unknown fields", args: []string{"apply", "-f", unknown}, code: 1,
			stderr: `Error from server (BadRequest): error when creating "` + unknown + `": ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "metadata.bogus", unknown field "spex"` + "\n",
		},
		{
			name: "unknown fields, server dry run with --validate=warn", args: []string{"apply", "-f", unknown, "--validate=warn", "--dry-run=server"},
			stdout: "configmap/unknown created (server dry run)\n",
			stderr: "Warning: unknown field \"metadata.bogus\"\nWarning: unknown field \"spex\"\n",
		},
		{
			name: "unknown fields with --validate=false", args: []string{"apply", "-f", unknown, "--validate=false"},
			stdout: "configmap/unknown created\n",
		},
		{
			name: "malformed YAML", args: []string{"apply", "-f", writeManifest(t, "malformed.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n data: x\n")}, code: 1,
			stderr: "error: error parsing %FILE%: error converting YAML to JSON: yaml: line 4: did not find expected key\n",
		},
		{
			name: "unknown kind", args: []string{"apply", "-f", writeManifest(t, "kind.yaml", "apiVersion: v1\nkind: Deploymnt\nmetadata:\n  name: bad\n")}, code: 1,
			stderr:    "error: resource mapping not found for name: \"bad\" namespace: \"\" from \"%FILE%\": no matches for kind \"Deploymnt\" in version \"v1\"\nensure CRDs are installed first\n",
			skipIfErr: "failed to check CRD", skipReason: "BUG: kubectl's validation lists customresourcedefinitions (apiextensions.k8s.io/v1), which skiff does not serve, so a misspelt kind fails with 'failed to check CRD' instead of 'no matches for kind'",
		},
		{
			name: "unknown kind with --validate=false", args: []string{"apply", "--validate=false", "-f", writeManifest(t, "kind.yaml", "apiVersion: v1\nkind: Deploymnt\nmetadata:\n  name: bad\n")}, code: 1,
			stderr: "error: resource mapping not found for name: \"bad\" namespace: \"\" from \"%FILE%\": no matches for kind \"Deploymnt\" in version \"v1\"\nensure CRDs are installed first\n",
		},
		{
			name: "unknown apiVersion", args: []string{"apply", "-f", writeManifest(t, "version.yaml", "apiVersion: apps/v2\nkind: Deployment\nmetadata:\n  name: bad\n")}, code: 1,
			stderr: "error: resource mapping not found for name: \"bad\" namespace: \"\" from \"%FILE%\": no matches for kind \"Deployment\" in version \"apps/v2\"\nensure CRDs are installed first\n",
		},
		{
			name: "invalid name", args: []string{"apply", "-f", writeManifest(t, "name.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n")}, code: 1,
			stderr: `The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')` + "\n",
		},
		{
			name: "two invalid fields", code: 1,
			args: []string{"apply", "-f", writeManifest(t, "invalid.yaml", strings.NewReplacer("name: nginx-deployment", "name: nginx_deployment", "image: nginx:1.27", `image: ""`).Replace(string(dep)))},
			stderr: "The Deployment \"nginx_deployment\" is invalid: \n" +
				`* metadata.name: Invalid value: "nginx_deployment": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')` + "\n" +
				"* spec.template.spec.containers[0].image: Required value\n",
		},
		{
			name: "a value of the wrong type", code: 1,
			args:   []string{"apply", "-f", writeManifest(t, "type.yaml", strings.Replace(string(dep), "replicas: 2", "replicas: two", 1))},
			stderr: `Error from server (BadRequest): error when creating "%FILE%": Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32` + "\n",
		},
		{
			name: "selector not matching the template", code: 1,
			args: []string{"apply", "-f", writeManifest(t, "selector.yaml", strings.Replace(string(dep), "      app: nginx\n  template", "      app: web\n  template", 1))},
			stderr: `The Deployment "nginx-deployment" is invalid: spec.template.metadata.labels: Invalid value: {"app":"nginx"}: ` +
				"`selector` does not match template `labels`\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := kubectl(t, append(tc.args, "-n", ns)...)
			file := tc.args[len(tc.args)-1]
			for i, a := range tc.args {
				if a == "-f" {
					file = tc.args[i+1]
				}
			}
			want := result{Code: tc.code, Stdout: tc.stdout, Stderr: strings.ReplaceAll(tc.stderr, "%FILE%", file)}
			if r != want {
				if tc.skipIfErr != "" && strings.Contains(r.Stderr, tc.skipIfErr) {
					t.Skip(tc.skipReason)
				}
				t.Errorf("kubectl %s:\n%s\nwant\n%s", strings.Join(tc.args, " "), r, want)
			}
		})
	}
}
