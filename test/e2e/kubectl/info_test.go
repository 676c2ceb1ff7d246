package kubectl

import (
	"regexp"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	r := kubectl(t, "version")
	re := regexp.MustCompile(`^Client Version: v1\.37\.2\nKustomize Version: v\S+\nServer Version: v1\.37\.2\+skiff\.\S+\n$`)
	// No "WARNING: version difference between client and server" on stderr: kubectl is stamped
	// with the version the server reports.
	if r.Code != 0 || r.Stderr != "" || !re.MatchString(r.Stdout) {
		t.Errorf("kubectl version:\n%s", r)
	}
	out := ok(t, "version", "-o", "json")
	contains(t, "version -o json", out, `"gitVersion": "v1.37.2"`, `"major": "1"`, `"minor": "37"`, `"gitVersion": "v1.37.2+skiff.`)
}

// upstreamResources is what upstream's api-resources prints for each resource (NAME APIVERSION ->
// SHORTNAMES NAMESPACED KIND), for the resources skiff serves now and those it is likely to serve
// next. A resource missing here fails the test: look up upstream's row and add it.
var upstreamResources = map[string]string{
	"bindings v1":               " true Binding",
	"componentstatuses v1":      "cs false ComponentStatus",
	"configmaps v1":             "cm true ConfigMap",
	"endpoints v1":              "ep true Endpoints",
	"events v1":                 "ev true Event",
	"limitranges v1":            "limits true LimitRange",
	"namespaces v1":             "ns false Namespace",
	"nodes v1":                  "no false Node",
	"persistentvolumeclaims v1": "pvc true PersistentVolumeClaim",
	"persistentvolumes v1":      "pv false PersistentVolume",
	"pods v1":                   "po true Pod",
	"podtemplates v1":           " true PodTemplate",
	"replicationcontrollers v1": "rc true ReplicationController",
	"resourcequotas v1":         "quota true ResourceQuota",
	"secrets v1":                " true Secret",
	"serviceaccounts v1":        "sa true ServiceAccount",
	"services v1":               "svc true Service",
	"mutatingwebhookconfigurations admissionregistration.k8s.io/v1":     " false MutatingWebhookConfiguration",
	"validatingadmissionpolicies admissionregistration.k8s.io/v1":       " false ValidatingAdmissionPolicy",
	"validatingadmissionpolicybindings admissionregistration.k8s.io/v1": " false ValidatingAdmissionPolicyBinding",
	"validatingwebhookconfigurations admissionregistration.k8s.io/v1":   " false ValidatingWebhookConfiguration",
	"customresourcedefinitions apiextensions.k8s.io/v1":                 "crd,crds false CustomResourceDefinition",
	"apiservices apiregistration.k8s.io/v1":                             " false APIService",
	"controllerrevisions apps/v1":                                       " true ControllerRevision",
	"daemonsets apps/v1":                                                "ds true DaemonSet",
	"deployments apps/v1":                                               "deploy true Deployment",
	"replicasets apps/v1":                                               "rs true ReplicaSet",
	"statefulsets apps/v1":                                              "sts true StatefulSet",
	"selfsubjectreviews authentication.k8s.io/v1":                       " false SelfSubjectReview",
	"tokenreviews authentication.k8s.io/v1":                             " false TokenReview",
	"localsubjectaccessreviews authorization.k8s.io/v1":                 " true LocalSubjectAccessReview",
	"selfsubjectaccessreviews authorization.k8s.io/v1":                  " false SelfSubjectAccessReview",
	"selfsubjectrulesreviews authorization.k8s.io/v1":                   " false SelfSubjectRulesReview",
	"subjectaccessreviews authorization.k8s.io/v1":                      " false SubjectAccessReview",
	"horizontalpodautoscalers autoscaling/v2":                           "hpa true HorizontalPodAutoscaler",
	"cronjobs batch/v1":                                                 "cj true CronJob",
	"jobs batch/v1":                                                     " true Job",
	"certificatesigningrequests certificates.k8s.io/v1":                 "csr false CertificateSigningRequest",
	"leases coordination.k8s.io/v1":                                     " true Lease",
	"endpointslices discovery.k8s.io/v1":                                " true EndpointSlice",
	"events events.k8s.io/v1":                                           "ev true Event",
	"flowschemas flowcontrol.apiserver.k8s.io/v1":                       " false FlowSchema",
	"prioritylevelconfigurations flowcontrol.apiserver.k8s.io/v1":       " false PriorityLevelConfiguration",
	"ingressclasses networking.k8s.io/v1":                               " false IngressClass",
	"ingresses networking.k8s.io/v1":                                    "ing true Ingress",
	"ipaddresses networking.k8s.io/v1":                                  "ip false IPAddress",
	"networkpolicies networking.k8s.io/v1":                              "netpol true NetworkPolicy",
	"servicecidrs networking.k8s.io/v1":                                 " false ServiceCIDR",
	"runtimeclasses node.k8s.io/v1":                                     " false RuntimeClass",
	"poddisruptionbudgets policy/v1":                                    "pdb true PodDisruptionBudget",
	"clusterrolebindings rbac.authorization.k8s.io/v1":                  " false ClusterRoleBinding",
	"clusterroles rbac.authorization.k8s.io/v1":                         " false ClusterRole",
	"rolebindings rbac.authorization.k8s.io/v1":                         " true RoleBinding",
	"roles rbac.authorization.k8s.io/v1":                                " true Role",
	"priorityclasses scheduling.k8s.io/v1":                              "pc false PriorityClass",
	"csidrivers storage.k8s.io/v1":                                      " false CSIDriver",
	"csinodes storage.k8s.io/v1":                                        " false CSINode",
	"csistoragecapacities storage.k8s.io/v1":                            " true CSIStorageCapacity",
	"storageclasses storage.k8s.io/v1":                                  "sc false StorageClass",
	"volumeattachments storage.k8s.io/v1":                               " false VolumeAttachment",
	"volumeattributesclasses storage.k8s.io/v1":                         "vac false VolumeAttributesClass",
}

func TestAPIResources(t *testing.T) {
	out := ok(t, "api-resources")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if h := strings.Join(strings.Fields(lines[0]), " "); h != "NAME SHORTNAMES APIVERSION NAMESPACED KIND" {
		t.Fatalf("header %q", lines[0])
	}
	cols := headerCell.FindAllStringIndex(lines[0], -1)
	seen := map[string]bool{}
	for _, l := range lines[1:] {
		cell := func(k int) string {
			end := len(l)
			if k+1 < len(cols) {
				end = min(cols[k+1][0], len(l))
			}
			return strings.TrimSpace(l[cols[k][0]:end])
		}
		key := cell(0) + " " + cell(2)
		got := cell(1) + " " + cell(3) + " " + cell(4)
		seen[key] = true
		want, known := upstreamResources[key]
		switch {
		case !known:
			t.Errorf("api-resources lists %q, which the test does not know: add upstream's row", l)
		case got != want:
			t.Errorf("api-resources row for %s: SHORTNAMES NAMESPACED KIND = %q, upstream %q", key, got, want)
		}
	}
	// The kinds a user of the examples needs.
	for _, key := range []string{"deployments apps/v1", "services v1", "configmaps v1", "statefulsets apps/v1", "jobs batch/v1",
		"persistentvolumeclaims v1", "pods v1", "namespaces v1", "nodes v1"} {
		if !seen[key] {
			t.Errorf("api-resources does not list %s", key)
		}
	}
	// Filters that kubectl applies on the discovery data.
	for _, name := range strings.Split(strings.TrimSpace(ok(t, "api-resources", "--namespaced=false", "-o", "name")), "\n") {
		if name == "pods" || name == "deployments.apps" {
			t.Errorf("--namespaced=false lists %s", name)
		}
	}
	if out := ok(t, "api-resources", "--api-group=apps", "-o", "name"); !strings.Contains(out, "deployments.apps\n") || strings.Contains(out, "pods") {
		t.Errorf("--api-group=apps:\n%s", out)
	}
	// Verbs come from discovery too.
	out = ok(t, "api-resources", "-o", "wide", "--api-group=apps")
	contains(t, "api-resources -o wide", out, "Deployment           create,delete,deletecollection,get,list,patch,update,watch   all\n")
}

func TestAPIVersions(t *testing.T) {
	out := ok(t, "api-versions")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, want := range []string{"v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2", "rbac.authorization.k8s.io/v1",
		"coordination.k8s.io/v1", "discovery.k8s.io/v1", "events.k8s.io/v1", "policy/v1", "scheduling.k8s.io/v1", "storage.k8s.io/v1"} {
		found := false
		for _, l := range lines {
			found = found || l == want
		}
		if !found {
			t.Errorf("api-versions lacks %s:\n%s", want, out)
		}
	}
	// Sorted, as kubectl sorts them; "v1" last since it sorts after the dotted groups.
	for i := 1; i < len(lines); i++ {
		if lines[i-1] >= lines[i] {
			t.Errorf("api-versions not sorted at %q, %q", lines[i-1], lines[i])
		}
	}
}

func TestClusterInfo(t *testing.T) {
	out := ok(t, "cluster-info")
	want := "Kubernetes control plane is running at " + server.URL + "\n\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n"
	// kubectl colours the line when it writes to a terminal; here it writes to a pipe.
	if plain := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(out, ""); plain != want {
		t.Errorf("cluster-info:\n%q\nwant\n%q", out, want)
	}
}
