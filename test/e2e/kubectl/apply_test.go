package kubectl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withReplicas writes a copy of the nginx example with another replica count, as a user edits it.
func withReplicas(t *testing.T, n string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples", "nginx-deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nginx-deployment.yaml")
	edited := strings.Replace(string(b), "replicas: 2", "replicas: "+n, 1)
	if edited == string(b) {
		t.Fatal("the example has no 'replicas: 2' to edit")
	}
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func resourceVersion(t *testing.T, ns, obj string) string {
	t.Helper()
	rv := ok(t, "get", "-n", ns, obj, "-o", "jsonpath={.metadata.resourceVersion}")
	if rv == "" {
		t.Fatalf("%s has no resourceVersion", obj)
	}
	return rv
}

func TestApply(t *testing.T) {
	ns := namespace(t, "apply")
	const file = "examples/nginx-deployment.yaml"
	expectOut(t, "deployment.apps/nginx-deployment created\n", "apply", "-n", ns, "-f", file)
	rv := resourceVersion(t, ns, "deploy/nginx-deployment")

	// Nothing changed: kubectl says so, and the server wrote nothing.
	expectOut(t, "deployment.apps/nginx-deployment unchanged\n", "apply", "-n", ns, "-f", file)
	if got := resourceVersion(t, ns, "deploy/nginx-deployment"); got != rv {
		t.Errorf("unchanged apply moved resourceVersion %s -> %s", rv, got)
	}

	three := withReplicas(t, "3")
	expectOut(t, "deployment.apps/nginx-deployment configured\n", "apply", "-n", ns, "-f", three)
	if got := ok(t, "get", "-n", ns, "deploy/nginx-deployment", "-o", "jsonpath={.spec.replicas}"); got != "3" {
		t.Errorf("replicas after apply = %q, want 3", got)
	}

	expectOut(t, "deployment.apps/nginx-deployment serverside-applied\n", "apply", "--server-side", "-n", ns, "-f", three)
	// Server-side apply creates as well.
	expectOut(t, "configmap/game-config serverside-applied\n", "apply", "--server-side", "-n", ns, "-f", "examples/game-configmap.yaml")
	// Every example applies cleanly.
	expectOut(t, "service/nginx created\n", "apply", "-n", ns, "-f", "examples/nginx-service.yaml")
	expectOut(t, "service/nginx-headless created\nstatefulset.apps/web created\n", "apply", "-n", ns, "-f", "examples/web-statefulset.yaml")
	expectOut(t, "job.batch/pi created\n", "apply", "-n", ns, "-f", "examples/pi-job.yaml")
	// The dry runs print what they would do and change nothing.
	expectOut(t, "deployment.apps/nginx-deployment configured (server dry run)\n", "apply", "--dry-run=server", "-n", ns, "-f", withReplicas(t, "5"))
	if got := ok(t, "get", "-n", ns, "deploy/nginx-deployment", "-o", "jsonpath={.spec.replicas}"); got != "3" {
		t.Errorf("replicas after a dry run = %q, want 3", got)
	}
}
