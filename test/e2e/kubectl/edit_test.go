package kubectl

import (
	"os"
	"path/filepath"
	"testing"
)

// The imperative verbs a user reaches for after apply, each checked by what it prints and by the
// object it leaves.
func TestEdit(t *testing.T) {
	ns := namespace(t, "edit")
	ok(t, "apply", "-n", ns, "-f", "examples/nginx-deployment.yaml")
	deploy := "deployment.apps/nginx-deployment"
	field := func(path string) string {
		t.Helper()
		return ok(t, "get", "-n", ns, "deploy/nginx-deployment", "-o", "jsonpath="+path)
	}

	expectOut(t, deploy+" scaled\n", "scale", "-n", ns, "deploy/nginx-deployment", "--replicas=3")
	if got := field("{.spec.replicas}"); got != "3" {
		t.Errorf("replicas after scale = %q", got)
	}

	expectOut(t, deploy+" labeled\n", "label", "-n", ns, "deploy/nginx-deployment", "tier=web")
	r := kubectl(t, "label", "-n", ns, "deploy/nginx-deployment", "tier=db")
	if r.Code != 1 || r.Stderr != "error: 'tier' already has a value (web), and --overwrite is false\n" {
		t.Errorf("relabel without --overwrite:\n%s", r)
	}
	expectOut(t, deploy+" labeled\n", "label", "-n", ns, "deploy/nginx-deployment", "tier=db", "--overwrite")
	if got := field("{.metadata.labels.tier}"); got != "db" {
		t.Errorf("label tier = %q", got)
	}
	expectOut(t, deploy+" unlabeled\n", "label", "-n", ns, "deploy/nginx-deployment", "tier-")
	expectOut(t, deploy+" annotated\n", "annotate", "-n", ns, "deploy/nginx-deployment", "owner=team-a")
	if got := field("{.metadata.annotations.owner}"); got != "team-a" {
		t.Errorf("annotation owner = %q", got)
	}

	patches := []struct {
		typ, patch, path, want string
	}{
		{"json", `[{"op":"replace","path":"/spec/replicas","value":5}]`, "{.spec.replicas}", "5"},
		{"merge", `{"spec":{"replicas":6}}`, "{.spec.replicas}", "6"},
		{"strategic", `{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.28"}]}}}}`,
			"{.spec.template.spec.containers[*].image}", "nginx:1.28"},
	}
	for _, p := range patches {
		expectOut(t, deploy+" patched\n", "patch", "-n", ns, "deploy/nginx-deployment", "--type="+p.typ, "-p", p.patch)
		if got := field(p.path); got != p.want {
			t.Errorf("after a %s patch %s = %q, want %q", p.typ, p.path, got, p.want)
		}
	}
	// The strategic patch merged the container by name: the port is still there.
	if got := field("{.spec.template.spec.containers[0].ports[0].containerPort}"); got != "80" {
		t.Errorf("strategic patch lost the container port: %q", got)
	}
	expectOut(t, deploy+" patched (no change)\n", "patch", "-n", ns, "deploy/nginx-deployment", "-p", patches[2].patch)
	r = kubectl(t, "patch", "-n", ns, "deploy/nginx-deployment", "--type=json", "-p", `[{"op":"remove","path":"/spec/nope"}]`)
	if r.Code != 1 || r.Stdout != "" || r.Stderr == "" {
		t.Errorf("json patch removing a missing path:\n%s", r)
	}

	// edit opens $KUBE_EDITOR on the live object and sends what the editor saved.
	editor := filepath.Join(t.TempDir(), "editor.sh")
	if err := os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/replicas: 6/replicas: 4/' \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := opts{env: []string{"KUBE_EDITOR=" + editor}}
	if r := kubectlWith(t, env, "edit", "-n", ns, "deploy/nginx-deployment"); r.Code != 0 || r.Stdout != deploy+" edited\n" {
		t.Errorf("edit:\n%s", r)
	}
	if got := field("{.spec.replicas}"); got != "4" {
		t.Errorf("replicas after edit = %q, want 4", got)
	}
	if r := kubectlWith(t, opts{env: []string{"KUBE_EDITOR=true"}}, "edit", "-n", ns, "deploy/nginx-deployment"); r.Code != 0 ||
		r.Stderr != "Edit cancelled, no changes made.\n" {
		t.Errorf("edit that saves nothing:\n%s", r)
	}

	// create, imperatively.
	expectOut(t, "configmap/settings created\n", "create", "configmap", "settings", "-n", ns, "--from-literal=mode=fast", "--from-literal=level=3")
	if got := ok(t, "get", "-n", ns, "cm/settings", "-o", "jsonpath={.data.mode},{.data.level}"); got != "fast,3" {
		t.Errorf("configmap data = %q", got)
	}
	r = kubectl(t, "create", "configmap", "settings", "-n", ns, "--from-literal=a=b")
	if r.Code != 1 || r.Stderr != "error: failed to create configmap: configmaps \"settings\" already exists\n" {
		t.Errorf("create of an existing configmap:\n%s", r)
	}
	expectOut(t, "deployment.apps/web created\n", "create", "deployment", "web", "-n", ns, "--image=nginx:1.27")
	if got := ok(t, "get", "-n", ns, "deploy/web", "-o", "jsonpath={.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].image}"); got != "web nginx:1.27" {
		t.Errorf("created deployment = %q", got)
	}

	// delete, by file and by label.
	ok(t, "apply", "-n", ns, "-f", "examples/web-statefulset.yaml")
	expectOut(t, "service \"nginx-headless\" deleted from "+ns+" namespace\nstatefulset.apps \"web\" deleted from "+ns+" namespace\n",
		"delete", "-n", ns, "-f", "examples/web-statefulset.yaml")
	expectOut(t, "deployment.apps \"nginx-deployment\" deleted from "+ns+" namespace\n", "delete", "-n", ns, "deploy", "-l", "app=nginx")
	if r := kubectl(t, "get", "-n", ns, "deploy", "-l", "app=nginx"); r.Stdout != "" || r.Stderr != "No resources found in "+ns+" namespace.\n" {
		t.Errorf("deployments left with app=nginx:\n%s", r)
	}
	expectOut(t, "deployment.apps/web\n", "get", "-n", ns, "deploy", "-o", "name")
	r = kubectl(t, "delete", "-n", ns, "cm", "nope")
	if r.Code != 1 || r.Stderr != "Error from server (NotFound): configmaps \"nope\" not found\n" {
		t.Errorf("delete of a missing configmap:\n%s", r)
	}
	expectOut(t, "", "delete", "-n", ns, "cm", "nope", "--ignore-not-found")
}
