package kubectl

import (
	"strings"
	"testing"
)

// Describe must work for every kind served. kubectl's describers are client code; what they show
// comes from the server (defaults, status, related lists by field selector), so the checks are
// the lines that carry the server's data.
func TestDescribe(t *testing.T) {
	ns := namespace(t, "describe")
	ok(t, "apply", "-n", ns, "-f", "examples/nginx-deployment.yaml", "-f", "examples/nginx-service.yaml",
		"-f", "examples/game-configmap.yaml", "-f", "examples/web-statefulset.yaml", "-f", "examples/pi-job.yaml",
		"-f", "test/e2e/kubectl/testdata/every-kind.yaml")
	event := "apiVersion: v1\nkind: Event\nmetadata:\n  name: hello.1\ninvolvedObject:\n  kind: Pod\n  name: hello\n  namespace: " + ns +
		"\nreason: Testing\nmessage: a hand-made event\ntype: Normal\ncount: 1\n"
	if r := kubectlWith(t, opts{stdin: event}, "create", "-n", ns, "-f", "-"); r.Code != 0 {
		t.Fatalf("creating an event:\n%s", r)
	}

	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"deployment", "nginx-deployment"}, []string{
			"Name:                   nginx-deployment\n", "Namespace:              " + ns + "\n", "Labels:                 app=nginx\n",
			"Selector:               app=nginx\n", "Replicas:               2 desired | 0 updated | 0 total | 0 available | 0 unavailable\n",
			"StrategyType:           RollingUpdate\n", "RollingUpdateStrategy:  25% max unavailable, 25% max surge\n",
			"    Image:         nginx:1.27\n", "    Port:          80/TCP\n", "Events:            <none>\n"}},
		{[]string{"service", "nginx"}, []string{"Selector:                 app=nginx\n", "Type:                     ClusterIP\n",
			"Port:                     http  80/TCP\n", "TargetPort:               80/TCP\n"}},
		{[]string{"service", "nginx-headless"}, []string{"IP:                       None\n"}},
		{[]string{"configmap", "game-config"}, []string{"player_initial_lives:\n----\n3\n", "enemy.types=aliens,monsters\n"}},
		{[]string{"namespace", ns}, []string{"Name:         " + ns + "\n", "kubernetes.io/metadata.name=" + ns, "Status:       Active\n",
			"Resource Quotas\n  Name:     quota\n", "Resource Limits\n", " Container  cpu       -    -    100m             500m           -\n"}},
		{[]string{"node", "node-1"}, []string{"Name:               node-1\n", "Taints:             <none>\n", "Unschedulable:      false\n",
			"Non-terminated Pods:          (1 in total)\n", "hello"}},
		{[]string{"pod", "hello"}, []string{"Service Account:  default\n", "Node:             node-1/\n", "Status:           Pending\n", "    Image:      busybox:1.36\n",
			"QoS Class:        BestEffort\n"}},
		{[]string{"pvc", "data"}, []string{"Status:        Pending\n", "VolumeMode:    Filesystem\n"}},
		{[]string{"statefulset", "web"}, []string{"Service Name:           nginx-headless\n", "Replicas:               2 desired | 0 total\n",
			"      /usr/share/nginx/html from www (rw)\n", "Volume Claims:\n  Name:          www\n", "  Capacity:      1Gi\n"}},
		{[]string{"job", "pi"}, []string{"Completions:      1\n", "Backoff Limit:    4\n", "batch.kubernetes.io/job-name=pi\n",
			"Pods Statuses:    0 Active / 0 Succeeded / 0 Failed\n"}},
		{[]string{"pv", "pv-1"}, []string{"Status:          Pending\n", "Reclaim Policy:  Retain\n", "Capacity:        5Gi\n", "Path:          /srv/pv-1\n"}},
		{[]string{"endpoints", "external"}, []string{"Addresses:          192.0.2.10\n"}},
		{[]string{"event", "hello.1"}, []string{"Message:         a hand-made event\n", "Reason:                Testing\n"}},
		{[]string{"limitrange", "limits"}, []string{"Container   cpu       -    -    100m             500m           -\n"}},
		{[]string{"podtemplate", "tmpl"}, []string{"Image:              nginx:1.27\n"}},
		{[]string{"resourcequota", "quota"}, []string{"Name:       quota\n", "Resource    Used  Hard\n"}},
		{[]string{"secret", "creds"}, []string{"Type:  Opaque\n", "password:  6 bytes\n"}},
		{[]string{"serviceaccount", "builder"}, []string{"Name:                builder\n"}},
		{[]string{"controllerrevision", "rev-1"}, []string{"Revision:              1\n"}},
		{[]string{"daemonset", "agent"}, []string{"Selector:       app=agent\n", "Desired Number of Nodes Scheduled: 0\n"}},
		{[]string{"replicaset", "frontend"}, []string{"Replicas:     0 current / 2 desired\n"}},
		{[]string{"hpa", "frontend"}, []string{"Reference:                                             ReplicaSet/frontend\n",
			"resource cpu on pods  (as a percentage of request):  <unknown> / 80%\n", "Max replicas:                                          5\n"}},
		{[]string{"cronjob", "nightly"}, []string{"Schedule:                      0 3 * * *\n", "Concurrency Policy:            Allow\n",
			"Successful Job History Limit:  3\n"}},
		{[]string{"lease", "node-1"}, []string{"Holder Identity:         node-1\n"}},
		{[]string{"endpointslice", "external-abc"}, []string{"AddressType:  IPv4\n", "  - Addresses:  192.0.2.10\n"}},
		{[]string{"pdb", "frontend"}, []string{"Min available:  1\n", "Selector:       app=frontend\n"}},
		{[]string{"clusterrole", "pod-reader"}, []string{"  pods       []                 []              [get list watch]\n"}},
		{[]string{"clusterrolebinding", "read-pods-global"}, []string{"  ServiceAccount  builder  default\n"}},
		{[]string{"role", "cm-editor"}, []string{"  configmaps  []                 []              [get update]\n"}},
		{[]string{"rolebinding", "edit-cms"}, []string{"  Kind:  Role\n  Name:  cm-editor\n"}},
		{[]string{"priorityclass", "high"}, []string{"Value:             1000\n", "PreemptionPolicy:  PreemptLowerPriority\n"}},
		{[]string{"storageclass", "local"}, []string{"Provisioner:           kubernetes.io/no-provisioner\n", "VolumeBindingMode:     WaitForFirstConsumer\n"}},
	}
	described := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.args[0], func(t *testing.T) {
			args := append([]string{"describe"}, tc.args...)
			args = append(args, "-n", ns)
			out := ok(t, args...)
			contains(t, strings.Join(args, " "), out, tc.want...)
		})
		described[tc.args[0]] = true
	}

	// Every kind in api-resources is described above (bindings, reviews and other create-only
	// kinds have no objects to describe and are listed here as such).
	createOnly := map[string]bool{"bindings": true, "tokenreviews": true, "selfsubjectreviews": true,
		"localsubjectaccessreviews": true, "selfsubjectaccessreviews": true, "selfsubjectrulesreviews": true,
		"subjectaccessreviews": true}
	for _, line := range strings.Split(strings.TrimSpace(ok(t, "api-resources", "--no-headers", "-o", "name")), "\n") {
		name, _, _ := strings.Cut(line, ".")
		if createOnly[name] {
			continue
		}
		if !described[singular(name)] && !described[name] && !described[shortOf[name]] {
			t.Errorf("api-resources lists %s, which TestDescribe does not describe: add an object of it to testdata/every-kind.yaml and a case", line)
		}
	}
}

// shortOf maps the plural names that the cases above spell otherwise.
var shortOf = map[string]string{"horizontalpodautoscalers": "hpa", "poddisruptionbudgets": "pdb",
	"persistentvolumeclaims": "pvc", "persistentvolumes": "pv", "endpoints": "endpoints"}

func singular(plural string) string {
	switch {
	case strings.HasSuffix(plural, "classes"), strings.HasSuffix(plural, "policies"):
		return strings.TrimSuffix(strings.TrimSuffix(plural, "es"), "i") // priorityclass, ...
	case strings.HasSuffix(plural, "s"):
		return strings.TrimSuffix(plural, "s")
	}
	return plural
}
