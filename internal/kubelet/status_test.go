package kubelet

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/runtime"
)

func running(name string, attempt uint32) *runtime.ContainerStatus {
	return &runtime.ContainerStatus{ID: name + "-id", Name: name, Attempt: attempt, State: runtime.ContainerRunning, StartedAt: time.Unix(100, 0)}
}

func exited(name string, attempt uint32, code int) *runtime.ContainerStatus {
	return &runtime.ContainerStatus{ID: name + "-id", Name: name, Attempt: attempt, State: runtime.ContainerExited,
		ExitCode: code, StartedAt: time.Unix(100, 0), FinishedAt: time.Unix(200, 0)}
}

func TestComputeStatus(t *testing.T) {
	always, never, onFailure := v1.RestartPolicyAlways, v1.RestartPolicyNever, v1.RestartPolicyOnFailure
	crashWait := map[string]*v1.ContainerStateWaiting{"a": {Reason: reasonCrashLoopBackOff}}
	for _, tc := range []struct {
		name       string
		policy     v1.RestartPolicy
		init       []string
		apps       []string
		rt         map[string][]*runtime.ContainerStatus
		waiting    map[string]*v1.ContainerStateWaiting
		phase      v1.PodPhase
		ready      v1.ConditionStatus
		readyWhy   string
		initWhy    string
		appWaiting string
	}{
		{name: "nothing yet", policy: always, apps: []string{"a"}, phase: v1.PodPending, ready: v1.ConditionFalse,
			readyWhy: reasonContainersNotReady, appWaiting: reasonContainerCreating},
		{name: "running", policy: always, apps: []string{"a"}, rt: map[string][]*runtime.ContainerStatus{"a": {running("a", 0)}},
			phase: v1.PodRunning, ready: v1.ConditionTrue},
		{name: "one of two running", policy: always, apps: []string{"a", "b"}, rt: map[string][]*runtime.ContainerStatus{"a": {running("a", 0)}},
			phase: v1.PodPending, ready: v1.ConditionFalse, readyWhy: reasonContainersNotReady},
		{name: "crash loop is Running", policy: always, apps: []string{"a"}, waiting: crashWait,
			rt: map[string][]*runtime.ContainerStatus{"a": {exited("a", 3, 1)}}, phase: v1.PodRunning, ready: v1.ConditionFalse,
			readyWhy: reasonContainersNotReady, appWaiting: reasonCrashLoopBackOff},
		{name: "never, all succeeded", policy: never, apps: []string{"a", "b"},
			rt:    map[string][]*runtime.ContainerStatus{"a": {exited("a", 0, 0)}, "b": {exited("b", 0, 0)}},
			phase: v1.PodSucceeded, ready: v1.ConditionFalse, readyWhy: reasonPodCompleted},
		{name: "never, one failed", policy: never, apps: []string{"a", "b"},
			rt:    map[string][]*runtime.ContainerStatus{"a": {exited("a", 0, 0)}, "b": {exited("b", 0, 2)}},
			phase: v1.PodFailed, ready: v1.ConditionFalse, readyWhy: reasonContainersNotReady},
		{name: "never, one still running", policy: never, apps: []string{"a", "b"},
			rt:    map[string][]*runtime.ContainerStatus{"a": {exited("a", 0, 1)}, "b": {running("b", 0)}},
			phase: v1.PodRunning, ready: v1.ConditionFalse, readyWhy: reasonContainersNotReady},
		{name: "onFailure, failed will restart", policy: onFailure, apps: []string{"a"},
			rt: map[string][]*runtime.ContainerStatus{"a": {exited("a", 0, 1)}}, phase: v1.PodRunning, ready: v1.ConditionFalse, readyWhy: reasonContainersNotReady},
		{name: "onFailure, succeeded", policy: onFailure, apps: []string{"a"},
			rt: map[string][]*runtime.ContainerStatus{"a": {exited("a", 0, 0)}}, phase: v1.PodSucceeded, ready: v1.ConditionFalse, readyWhy: reasonPodCompleted},
		{name: "init running", policy: always, init: []string{"i"}, apps: []string{"a"},
			rt:    map[string][]*runtime.ContainerStatus{"i": {running("i", 0)}},
			phase: v1.PodPending, ready: v1.ConditionFalse, readyWhy: reasonContainersNotReady, initWhy: reasonNotInitialized, appWaiting: reasonPodInitializing},
		{name: "init failed, never", policy: never, init: []string{"i"}, apps: []string{"a"},
			rt:    map[string][]*runtime.ContainerStatus{"i": {exited("i", 0, 1)}},
			phase: v1.PodFailed, ready: v1.ConditionFalse, readyWhy: reasonContainersNotReady, initWhy: reasonNotInitialized, appWaiting: reasonPodInitializing},
		{name: "init failed, always: pending retry", policy: always, init: []string{"i"}, apps: []string{"a"},
			rt:    map[string][]*runtime.ContainerStatus{"i": {exited("i", 0, 1)}},
			phase: v1.PodPending, ready: v1.ConditionFalse, readyWhy: reasonContainersNotReady, initWhy: reasonNotInitialized, appWaiting: reasonPodInitializing},
		{name: "init done, app running", policy: always, init: []string{"i"}, apps: []string{"a"},
			rt:    map[string][]*runtime.ContainerStatus{"i": {exited("i", 0, 0)}, "a": {running("a", 0)}},
			phase: v1.PodRunning, ready: v1.ConditionTrue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: v1.PodSpec{RestartPolicy: tc.policy}}
			for _, n := range tc.init {
				pod.Spec.InitContainers = append(pod.Spec.InitContainers, v1.Container{Name: n, Image: "img"})
			}
			for _, n := range tc.apps {
				pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{Name: n, Image: "img"})
			}
			pr := &podRuntime{sandbox: &runtime.SandboxStatus{State: runtime.SandboxReady}, containers: tc.rt}
			if pr.containers == nil {
				pr.containers = map[string][]*runtime.ContainerStatus{}
			}
			st := computeStatus(statusInput{pod: pod, rt: pr, waiting: tc.waiting, sandboxReady: true,
				podIPs: []string{"10.0.0.2"}, hostIP: "192.0.2.1", now: time.Unix(300, 0)})
			if st.Phase != tc.phase {
				t.Errorf("phase %s, want %s", st.Phase, tc.phase)
			}
			if c := cond(st, v1.PodReady); c.Status != tc.ready || c.Reason != tc.readyWhy {
				t.Errorf("Ready %s/%s, want %s/%s", c.Status, c.Reason, tc.ready, tc.readyWhy)
			}
			if c := cond(st, v1.PodInitialized); c.Reason != tc.initWhy && !(tc.initWhy == "" && c.Status == v1.ConditionTrue) {
				t.Errorf("Initialized %s/%s, want reason %q", c.Status, c.Reason, tc.initWhy)
			}
			if tc.appWaiting != "" {
				if w := st.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != tc.appWaiting {
					t.Errorf("app waiting %+v, want %s", w, tc.appWaiting)
				}
			}
			if st.PodIP != "10.0.0.2" || st.HostIP != "192.0.2.1" || len(st.HostIPs) != 1 {
				t.Errorf("addresses %s %s", st.PodIP, st.HostIP)
			}
		})
	}
}

func TestConditionTransitionTimesKept(t *testing.T) {
	old := metav1.NewTime(time.Unix(50, 0))
	pod := &v1.Pod{Spec: v1.PodSpec{RestartPolicy: v1.RestartPolicyAlways, Containers: []v1.Container{{Name: "a"}}},
		Status: v1.PodStatus{Conditions: []v1.PodCondition{
			{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: old},
			{Type: v1.PodInitialized, Status: v1.ConditionFalse, LastTransitionTime: old},
			{Type: "example.com/gate", Status: v1.ConditionTrue},
		}}}
	pr := &podRuntime{containers: map[string][]*runtime.ContainerStatus{"a": {running("a", 0)}}}
	st := computeStatus(statusInput{pod: pod, rt: pr, now: time.Unix(300, 0)})
	if c := cond(st, v1.PodReady); !c.LastTransitionTime.Equal(&old) {
		t.Errorf("unchanged Ready moved to %v", c.LastTransitionTime)
	}
	if c := cond(st, v1.PodInitialized); c.LastTransitionTime.Unix() != 300 {
		t.Errorf("changed Initialized kept %v", c.LastTransitionTime)
	}
	if c := cond(st, "example.com/gate"); c.Status != v1.ConditionTrue {
		t.Error("a condition another component owns was dropped")
	}
}
