package printers

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cliprinters "k8s.io/cli-runtime/pkg/printers"
)

// kubectlGet prints a table the way `kubectl get` does (cli-runtime's table printer, the code
// kubectl runs), after a JSON round trip as over the wire.
func kubectlGet(t *testing.T, gk schema.GroupKind, obj runtime.Object, wide bool) string {
	t.Helper()
	table, err := BuildTable(For(gk), obj, metav1.IncludeMetadata, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(table)
	if err != nil {
		t.Fatal(err)
	}
	var wire metav1.Table
	if err := json.Unmarshal(b, &wire); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := cliprinters.NewTablePrinter(cliprinters.PrintOptions{Wide: wide, Kind: gk}).PrintObj(&wire, &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestAsKubectlPrintsIt(t *testing.T) {
	pods := &corev1.PodList{Items: []corev1.Pod{{
		ObjectMeta: metav1.ObjectMeta{Name: "web-6d4cf56db6-7xk2p", CreationTimestamp: ago(26 * time.Hour)},
		Spec:       corev1.PodSpec{Containers: containers("nginx"), NodeName: "node-1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.42.0.7"}},
			ContainerStatuses: []corev1.ContainerStatus{withLastTermination(running("nginx", true, 2), 3*time.Hour)}},
	}, {
		ObjectMeta: metav1.ObjectMeta{Name: "migrate-8kq", CreationTimestamp: ago(5 * time.Minute)},
		Spec:       corev1.PodSpec{InitContainers: containers("wait"), Containers: containers("migrate")},
		Status: corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{running("wait", false, 0)}},
	}}}
	events := &corev1.EventList{Items: []corev1.Event{{
		ObjectMeta: metav1.ObjectMeta{Name: "web.1"}, Type: "Normal", Reason: "Pulled",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web"}, Message: "Container image pulled",
		Source: corev1.EventSource{Component: "kubelet"}, LastTimestamp: ago(40 * time.Second), FirstTimestamp: ago(40 * time.Second), Count: 1,
	}}}

	tests := []struct {
		name string
		gk   schema.GroupKind
		obj  runtime.Object
		wide bool
		want string
	}{{
		name: "get pods", gk: schema.GroupKind{Kind: "Pod"}, obj: pods,
		want: `
NAME                   READY   STATUS     RESTARTS     AGE
web-6d4cf56db6-7xk2p   1/1     Running    2 (3h ago)   26h
migrate-8kq            0/1     Init:0/1   0            5m
`,
	}, {
		name: "get pods -o wide", gk: schema.GroupKind{Kind: "Pod"}, obj: pods, wide: true,
		want: `
NAME                   READY   STATUS     RESTARTS     AGE   IP          NODE     NOMINATED NODE   READINESS GATES
web-6d4cf56db6-7xk2p   1/1     Running    2 (3h ago)   26h   10.42.0.7   node-1   <none>           <none>
migrate-8kq            0/1     Init:0/1   0            5m    <none>      <none>   <none>           <none>
`,
	}, {
		name: "get events", gk: schema.GroupKind{Kind: "Event"}, obj: events,
		want: `
LAST SEEN   TYPE     REASON   OBJECT    MESSAGE
40s         Normal   Pulled   pod/web   Container image pulled
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := kubectlGet(t, tt.gk, tt.obj, tt.wide)
			if want := strings.TrimPrefix(tt.want, "\n"); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
