package printers

import (
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testNow is the clock of every test in the package: ages are relative to it.
var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func TestMain(m *testing.M) {
	now = func() time.Time { return testNow }
	os.Exit(m.Run())
}

func ago(d time.Duration) metav1.Time { return metav1.NewTime(testNow.Add(-d)) }

func ptr[T any](v T) *T { return &v }

func running(name string, ready bool, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Ready: ready, RestartCount: restarts,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func waiting(name, reason string, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, RestartCount: restarts,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func terminated(name, reason string, exit, signal int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exit, Signal: signal}}}
}

func withLastTermination(cs corev1.ContainerStatus, finished time.Duration) corev1.ContainerStatus {
	cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{FinishedAt: ago(finished)}
	return cs
}

func containers(names ...string) []corev1.Container {
	out := make([]corev1.Container, len(names))
	for i, n := range names {
		out[i] = corev1.Container{Name: n, Image: n + ":1"}
	}
	return out
}

func TestSummarizePod(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	sidecar := corev1.Container{Name: "sidecar", RestartPolicy: &always}

	tests := []struct {
		name                    string
		pod                     corev1.Pod
		ready, status, restarts string
	}{{
		name:  "pending, nothing reported yet",
		pod:   corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")}, Status: corev1.PodStatus{Phase: corev1.PodPending}},
		ready: "0/2", status: "Pending", restarts: "0",
	}, {
		name: "running and ready",
		pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")}, Status: corev1.PodStatus{
			Phase:             corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{running("a", true, 0), running("b", true, 0)}}},
		ready: "2/2", status: "Running", restarts: "0",
	}, {
		name: "crash loop with the age of the last restart",
		pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{
				withLastTermination(waiting("a", "CrashLoopBackOff", 5), 5*time.Minute)}}},
		ready: "0/1", status: "CrashLoopBackOff", restarts: "5 (5m ago)",
	}, {
		name: "restarts without a recorded termination have no age",
		pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
			Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running("a", true, 3)}}},
		ready: "1/1", status: "Running", restarts: "3",
	}, {
		name: "image pull error",
		pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
			Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting("a", "ErrImagePull", 0)}}},
		ready: "0/1", status: "ErrImagePull", restarts: "0",
	}, {
		name: "completed",
		pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
			Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{terminated("a", "Completed", 0, 0)}}},
		ready: "0/1", status: "Completed", restarts: "0",
	}, {
		name: "error",
		pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
			Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{terminated("a", "Error", 1, 0)}}},
		ready: "0/1", status: "Error", restarts: "0",
	}, {
		name: "terminated without reason: signal, then exit code",
		pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")}, Status: corev1.PodStatus{
			Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{
				terminated("a", "", 137, 9), terminated("b", "", 2, 0)}}},
		// The first container is examined last and wins.
		ready: "0/2", status: "Signal:9", restarts: "0",
	}, {
		name: "exit code only",
		pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
			Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{terminated("a", "", 3, 0)}}},
		ready: "0/1", status: "ExitCode:3", restarts: "0",
	}, {
		name: "one container completed, another still running and pod ready",
		pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")}, Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{
				terminated("a", "Completed", 0, 0), running("b", true, 0)}}},
		ready: "1/2", status: "Running", restarts: "0",
	}, {
		name: "one container completed, another still running, pod not ready",
		pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")}, Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{
				terminated("a", "Completed", 0, 0), running("b", true, 0)}}},
		ready: "1/2", status: "NotReady", restarts: "0",
	}, {
		name: "init containers: second of three running",
		pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1", "i2", "i3"), Containers: containers("a")},
			Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{
					terminated("i1", "Completed", 0, 0), running("i2", false, 0), waiting("i3", "PodInitializing", 0)},
				ContainerStatuses: []corev1.ContainerStatus{waiting("a", "PodInitializing", 0)}}},
		ready: "0/1", status: "Init:1/3", restarts: "0",
	}, {
		name: "init container waiting on PodInitializing counts as not started",
		pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1"), Containers: containers("a")},
			Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{waiting("i1", "PodInitializing", 0)}}},
		ready: "0/1", status: "Init:0/1", restarts: "0",
	}, {
		name: "init container crash-looping: its restarts are the pod's",
		pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1"), Containers: containers("a")},
			Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{
					withLastTermination(waiting("i1", "CrashLoopBackOff", 4), 90*time.Second)},
				ContainerStatuses: []corev1.ContainerStatus{waiting("a", "PodInitializing", 0)}}},
		ready: "0/1", status: "Init:CrashLoopBackOff", restarts: "4 (90s ago)",
	}, {
		name: "init container failed with a reason",
		pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1"), Containers: containers("a")},
			Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{terminated("i1", "Error", 1, 0)}}},
		ready: "0/1", status: "Init:Error", restarts: "0",
	}, {
		name: "init container failed without a reason",
		pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1"), Containers: containers("a")},
			Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{terminated("i1", "", 2, 0)}}},
		ready: "0/1", status: "Init:ExitCode:2", restarts: "0",
	}, {
		name: "init container killed by a signal",
		pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1"), Containers: containers("a")},
			Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{terminated("i1", "", 137, 9)}}},
		ready: "0/1", status: "Init:Signal:9", restarts: "0",
	}, {
		name: "started sidecar counts as a ready container",
		pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{sidecar}, Containers: containers("a")},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}},
				InitContainerStatuses: []corev1.ContainerStatus{func() corev1.ContainerStatus {
					cs := withLastTermination(running("sidecar", true, 2), time.Hour)
					cs.Started = ptr(true)
					return cs
				}()},
				ContainerStatuses: []corev1.ContainerStatus{running("a", true, 1)}}},
		// Sidecar restarts count along with the app containers'; the last restart is the sidecar's.
		ready: "2/2", status: "Running", restarts: "3 (60m ago)",
	}, {
		name: "scheduling gated",
		pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
			Phase: corev1.PodPending,
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
				Reason: corev1.PodReasonSchedulingGated}}}},
		ready: "0/1", status: "SchedulingGated", restarts: "0",
	}, {
		name: "pod reason (evicted) replaces the phase",
		pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
			Phase: corev1.PodFailed, Reason: "Evicted"}},
		ready: "0/1", status: "Evicted", restarts: "0",
	}, {
		name: "deleted running pod is Terminating",
		pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: ptr(ago(time.Second))},
			Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running("a", true, 0)}}},
		ready: "1/1", status: "Terminating", restarts: "0",
	}, {
		name: "deleted finished pod keeps its status",
		pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: ptr(ago(time.Second))},
			Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{terminated("a", "Completed", 0, 0)}}},
		ready: "0/1", status: "Completed", restarts: "0",
	}, {
		name: "deleted pod of a lost node is Unknown",
		pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: ptr(ago(time.Second))},
			Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodRunning, Reason: "NodeLost", ContainerStatuses: []corev1.ContainerStatus{running("a", true, 0)}}},
		ready: "1/1", status: "Unknown", restarts: "0",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarizePod(&tt.pod)
			if got.ready != tt.ready || got.status != tt.status || got.restarts != tt.restarts {
				t.Errorf("got READY=%q STATUS=%q RESTARTS=%q, want %q %q %q",
					got.ready, got.status, got.restarts, tt.ready, tt.status, tt.restarts)
			}
		})
	}
}

func TestPodWideCells(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(3 * time.Hour)},
		Spec: corev1.PodSpec{Containers: containers("a"), NodeName: "n1",
			ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "x/one"}, {ConditionType: "x/two"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			PodIP: "10.0.0.9", PodIPs: []corev1.PodIP{{IP: "10.0.0.9"}, {IP: "fd00::9"}},
			Conditions:        []corev1.PodCondition{{Type: "x/one", Status: corev1.ConditionTrue}, {Type: "x/two", Status: corev1.ConditionFalse}},
			ContainerStatuses: []corev1.ContainerStatus{running("a", true, 0)}},
	}
	cells, err := podTable.Row(pod)
	if err != nil {
		t.Fatal(err)
	}
	want := []interface{}{"web", "1/1", "Running", "0", "3h", "10.0.0.9", "n1", "<none>", "1/2"}
	assertCells(t, cells, want)

	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: containers("a")}}
	cells, _ = podTable.Row(bare)
	assertCells(t, cells, []interface{}{"p", "0/1", "", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"})
}

func assertCells(t *testing.T, got, want []interface{}) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d cells %#v, want %d %#v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cell %d: got %#v, want %#v", i, got[i], want[i])
		}
	}
}
