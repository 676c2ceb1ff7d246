package kubectl

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	ns := namespace(t, "get")
	ok(t, "apply", "-n", ns, "-f", "examples/nginx-deployment.yaml", "-f", "examples/nginx-service.yaml",
		"-f", "examples/game-configmap.yaml", "-f", "examples/pi-job.yaml")

	tables := []struct {
		golden string
		args   []string
	}{
		{"get-deploy.txt", []string{"get", "deploy"}},
		{"get-deploy-wide.txt", []string{"get", "deploy", "-o", "wide"}},
		{"get-deploy-show-labels.txt", []string{"get", "deploy", "--show-labels"}},
		{"get-all.txt", []string{"get", "all"}},
		{"get-deploy-svc-cm.txt", []string{"get", "deploy,svc,cm"}},
		{"get-svc-wide.txt", []string{"get", "svc", "-o", "wide"}},
		{"get-job-wide.txt", []string{"get", "jobs", "-o", "wide"}},
	}
	for _, tc := range tables {
		t.Run(tc.golden, func(t *testing.T) {
			golden(t, tc.golden, normTable(ok(t, append(tc.args, "-n", ns)...)))
		})
	}

	t.Run("yaml", func(t *testing.T) {
		golden(t, "get-deploy.yaml", normValues(ok(t, "get", "-n", ns, "deploy", "nginx-deployment", "-o", "yaml")))
	})
	t.Run("json", func(t *testing.T) {
		out := ok(t, "get", "-n", ns, "deploy", "-o", "json")
		var list struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Items      []struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct{ Name, Namespace string }
			}
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("-o json is not JSON: %v\n%s", err, out)
		}
		if list.APIVersion != "v1" || list.Kind != "List" || len(list.Items) != 1 ||
			list.Items[0].APIVersion != "apps/v1" || list.Items[0].Kind != "Deployment" ||
			list.Items[0].Metadata.Name != "nginx-deployment" || list.Items[0].Metadata.Namespace != ns {
			t.Errorf("-o json: %+v", list)
		}
		golden(t, "get-deploy.json", normValues(out))
	})
	t.Run("name", func(t *testing.T) {
		expectOut(t, "deployment.apps/nginx-deployment\n", "get", "-n", ns, "deploy", "-o", "name")
		expectOut(t, "configmap/game-config\njob.batch/pi\n", "get", "-n", ns, "cm,jobs", "-o", "name")
	})
	t.Run("all-namespaces", func(t *testing.T) {
		out := normTable(ok(t, "get", "deploy", "-A"))
		lines := strings.Split(out, "\n")
		var mine []string
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, ns+" ") {
				mine = append(mine, l)
			}
		}
		if lines[0] != "NAMESPACE   NAME               READY   UP-TO-DATE   AVAILABLE   AGE" && !strings.HasPrefix(lines[0], "NAMESPACE ") {
			t.Errorf("header %q", lines[0])
		}
		if len(mine) != 1 || !strings.Contains(mine[0], "nginx-deployment") || !strings.Contains(mine[0], "0/2") {
			t.Errorf("-A: want one nginx-deployment row in %s, got\n%s", ns, out)
		}
	})
	t.Run("no pods", func(t *testing.T) {
		r := kubectl(t, "get", "pods", "-n", ns)
		if r.Code != 0 || r.Stdout != "" || r.Stderr != "No resources found in "+ns+" namespace.\n" {
			t.Errorf("get pods in an empty namespace:\n%s", r)
		}
	})
	t.Run("not found", func(t *testing.T) {
		r := kubectl(t, "get", "deploy", "nope", "-n", ns)
		if r.Code != 1 || r.Stdout != "" || r.Stderr != `Error from server (NotFound): deployments.apps "nope" not found`+"\n" {
			t.Errorf("get of a missing deployment:\n%s", r)
		}
	})
}

// The example Service gets a cluster IP from the service CIDR, as upstream allocates one on create.
func TestServiceClusterIP(t *testing.T) {
	ns := namespace(t, "clusterip")
	ok(t, "apply", "-n", ns, "-f", "examples/nginx-service.yaml", "-f", "examples/web-statefulset.yaml")
	if ip := ok(t, "get", "-n", ns, "svc/nginx-headless", "-o", "jsonpath={.spec.clusterIP}"); ip != "None" {
		t.Errorf("headless service clusterIP = %q, want None", ip)
	}
	ip := ok(t, "get", "-n", ns, "svc/nginx", "-o", "jsonpath={.spec.clusterIP}")
	if !strings.HasPrefix(ip, "10.") {
		t.Errorf("clusterIP %q is not from the default service CIDR 10.96.0.0/12", ip)
	}
}
