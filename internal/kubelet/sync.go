package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-dev/skiff/internal/kubelet/prober"
	"github.com/skiff-dev/skiff/internal/kubelet/pvcvolume"
	"github.com/skiff-dev/skiff/internal/kubelet/staticpod"
	"github.com/skiff-dev/skiff/internal/runtime"
)

// minGracePeriod is the least time a container gets between SIGTERM and SIGKILL, also when the
// pod was force-deleted, as upstream's kubelet grants.
const minGracePeriod = 2 * time.Second

// podRuntime reads the runtime's view of the pod: the ready sandbox (else the newest) and the
// containers in it.
func (k *Kubelet) podRuntime(ctx context.Context, uid types.UID) (*podRuntime, error) {
	sbs, err := k.rt.ListPodSandbox(ctx, &runtime.SandboxFilter{Labels: map[string]string{labelPodUID: string(uid)}})
	if err != nil {
		return nil, err
	}
	pr := &podRuntime{containers: map[string][]*runtime.ContainerStatus{}}
	for _, sb := range sbs {
		switch {
		case pr.sandbox == nil,
			sb.State == runtime.SandboxReady && pr.sandbox.State != runtime.SandboxReady,
			sb.State == pr.sandbox.State && sb.CreatedAt.After(pr.sandbox.CreatedAt):
			pr.sandbox = sb
		}
	}
	if pr.sandbox == nil {
		return pr, nil
	}
	cs, err := k.rt.ListContainers(ctx, &runtime.ContainerFilter{SandboxID: pr.sandbox.ID})
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		name := c.Labels[labelContainerName]
		if name == "" {
			name = c.Name
		}
		pr.containers[name] = append(pr.containers[name], c)
	}
	sortInstances(pr.containers)
	return pr, nil
}

func (k *Kubelet) allSandboxes(ctx context.Context, uid types.UID) ([]*runtime.SandboxStatus, error) {
	return k.rt.ListPodSandbox(ctx, &runtime.SandboxFilter{Labels: map[string]string{labelPodUID: string(uid)}})
}

// syncWorker runs one round for the pod and says whether the worker is done (the pod is gone
// from the node and from the API).
func (k *Kubelet) syncWorker(ctx context.Context, w *podWorker) (bool, error) {
	pod, gone, kills := w.snapshot()
	if pod == nil {
		return true, nil
	}
	if gone || pod.DeletionTimestamp != nil {
		if w.deleted && !gone {
			return false, nil // waiting for the informer to see our delete
		}
		grace := gracePeriod(pod)
		if gone && pod.DeletionGracePeriodSeconds == nil {
			// Force-deleted: nobody waits for a graceful stop any more.
			grace = minGracePeriod
		}
		if err := k.killPod(ctx, w, pod, grace); err != nil {
			return false, err
		}
		if gone && staticpod.IsStatic(pod) {
			// The file is gone: so goes the pod's stand-in in the API (retried until the API
			// answers; the pod itself is already stopped).
			if err := k.deleteMirror(ctx, pod); err != nil {
				return false, err
			}
		}
		if gone {
			return true, nil
		}
		zero := int64(0)
		err := k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return false, fmt.Errorf("deleting pod: %w", err)
		}
		w.deleted = true
		return apierrors.IsNotFound(err) || apierrors.IsConflict(err), nil
	}
	k.prober.AddPod(pod)
	syncErr := k.syncPod(ctx, w, pod, kills)
	pr, err := k.podRuntime(ctx, pod.UID)
	if err != nil {
		return false, err
	}
	st := k.status(w, pod, pr)
	if st.Phase == v1.PodSucceeded || st.Phase == v1.PodFailed {
		// A finished pod keeps its status and containers until deleted, but nothing runs.
		if pr.sandbox != nil && pr.sandbox.State == runtime.SandboxReady {
			k.stopSandbox(ctx, w, pod, pr)
			if pr, err = k.podRuntime(ctx, pod.UID); err == nil {
				st = k.status(w, pod, pr)
			}
		}
	}
	if err := k.writeStatus(ctx, w, pod, st); err != nil {
		return false, err
	}
	return false, syncErr
}

func gracePeriod(pod *v1.Pod) time.Duration {
	g := int64(v1.DefaultTerminationGracePeriodSeconds)
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		g = *pod.DeletionGracePeriodSeconds
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		g = *pod.Spec.TerminationGracePeriodSeconds
	}
	return max(time.Duration(g)*time.Second, minGracePeriod)
}

// status computes the pod's status from the runtime and the worker's held-back reasons, and
// caches it for the prober.
func (k *Kubelet) status(w *podWorker, pod *v1.Pod, pr *podRuntime) v1.PodStatus {
	sandboxReady := pr.sandbox != nil && pr.sandbox.State == runtime.SandboxReady && (pod.Spec.HostNetwork || w.podIP != "")
	var ips []string
	if w.podIP != "" {
		ips = []string{w.podIP}
	}
	base := pod
	if w.lastStatus != nil {
		base = pod.DeepCopy()
		base.Status.StartTime, base.Status.Phase = w.lastStatus.StartTime, w.lastStatus.Phase
		base.Status.Conditions = mergeConditions(pod.Status.Conditions, w.lastStatus.Conditions)
		if base.Status.PodIP == "" {
			base.Status.PodIP, base.Status.PodIPs = w.lastStatus.PodIP, w.lastStatus.PodIPs
		}
	}
	st := computeStatus(statusInput{
		pod: base, rt: pr, waiting: w.waiting, sandboxReady: sandboxReady, podIPs: ips,
		hostIP: k.cfg.NodeIP.String(), now: k.cfg.Clock.Now(),
		image: k.statusImage, termMessage: k.terminationMessage, probe: k.prober.UpdatePodStatus,
	})
	k.mu.Lock()
	k.statuses[pod.UID] = st
	k.mu.Unlock()
	return st
}

// mergeConditions prefers what this agent last wrote for its own conditions (the informer may
// lag behind its own writes) and the API's for the rest.
func mergeConditions(api, ours []v1.PodCondition) []v1.PodCondition {
	out := append([]v1.PodCondition(nil), ours...)
	for _, c := range api {
		found := false
		for _, o := range ours {
			found = found || o.Type == c.Type
		}
		if !found {
			out = append(out, c)
		}
	}
	return out
}

func (k *Kubelet) statusImage(spec *v1.Container, c *runtime.ContainerStatus) (string, string) {
	img, id := spec.Image, c.ImageRef
	if info, err := k.images.Get(spec.Image); err == nil {
		if info.RepoDigest != "" {
			id = info.RepoDigest
		} else if id == "" {
			id = info.ID
		}
	}
	return img, id
}

// writeStatus PATCHes pods/status when the status differs from what the API (or this agent's
// last write) has.
// A static pod's status goes to its mirror pod, created first when missing.
func (k *Kubelet) writeStatus(ctx context.Context, w *podWorker, pod *v1.Pod, st v1.PodStatus) error {
	target := pod
	if staticpod.IsStatic(pod) {
		m, err := k.ensureMirror(ctx, pod)
		if err != nil {
			return err
		}
		if m.UID != w.mirrorUID {
			w.mirrorUID, w.lastStatus = m.UID, nil // a new mirror has none of what was written
		}
		target = m
	}
	if w.lastStatus != nil && apiequality.Semantic.DeepEqual(*w.lastStatus, st) {
		return nil
	}
	if apiequality.Semantic.DeepEqual(target.Status, st) {
		w.lastStatus = &st
		return nil
	}
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": target.UID},
		"status":   st,
	})
	if err != nil {
		return err
	}
	_, err = k.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, body, metav1.PatchOptions{}, "status")
	if err != nil {
		return fmt.Errorf("patching status: %w", err)
	}
	if w.lastStatus == nil || w.lastStatus.Phase != st.Phase {
		k.log.Info("pod phase", "pod", pod.Namespace+"/"+pod.Name, "phase", st.Phase, "podIP", st.PodIP)
	}
	w.lastStatus = &st
	return nil
}

// syncPod drives the pod one step towards running: volumes, sandbox, network, init containers
// in order, then app containers, restarting per the restart policy with back-off.
func (k *Kubelet) syncPod(ctx context.Context, w *podWorker, pod *v1.Pod, kills map[string]prober.Update) error {
	if w.lastStatus != nil && (w.lastStatus.Phase == v1.PodSucceeded || w.lastStatus.Phase == v1.PodFailed) ||
		pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return nil
	}
	paths, err := k.volumes.SetUp(ctx, pod)
	if err != nil {
		if w.shouldRecord("mount", err.Error(), time.Now()) {
			if ces := pvcvolume.ClaimErrors(err); len(ces) > 0 {
				// A claim that is not usable yet is a wait, reported in upstream's words.
				names := make([]string, len(ces))
				for i, ce := range ces {
					names[i] = ce.Volume
				}
				list := strings.Join(names, " ")
				k.podEvent(pod, v1.EventTypeWarning, "FailedMount",
					"Unable to attach or mount volumes: unmounted volumes=[%s], failed to process volumes=[%s]: %v", list, list, ces[0])
			} else {
				k.podEvent(pod, v1.EventTypeWarning, "FailedMount", "MountVolume.SetUp failed: %v", err)
			}
		}
		return err
	}
	pr, err := k.podRuntime(ctx, pod.UID)
	if err != nil {
		return err
	}
	if pr.sandbox == nil || pr.sandbox.State != runtime.SandboxReady {
		if pr, err = k.newSandbox(ctx, w, pod, pr); err != nil {
			return err
		}
	}
	if !pod.Spec.HostNetwork && w.podIP == "" {
		ip, err := k.net.Attach(string(pod.UID), pr.sandbox.NetNSPath)
		if err != nil {
			k.podEvent(pod, v1.EventTypeWarning, "FailedCreatePodSandBox",
				"Failed to create pod sandbox: setting up the pod network: %v", err)
			return err
		}
		w.podIP = ip.String()
		if err := k.writePodFiles(pod, w.podIP); err != nil {
			return err
		}
	}

	for id, u := range kills {
		for _, l := range pr.containers {
			if len(l) == 0 || containerIDPrefix+l[0].ID != id || l[0].State != runtime.ContainerRunning {
				continue
			}
			spec, _ := specOf(pod, u.ContainerName)
			grace := time.Duration(prober.KillGracePeriod(pod, nil)) * time.Second
			if u.GracePeriodSeconds != nil {
				grace = time.Duration(*u.GracePeriodSeconds) * time.Second
			}
			k.stopContainer(ctx, pod, spec, l[0], max(grace, minGracePeriod), u.KillMessage)
		}
	}
	if len(kills) > 0 {
		if pr, err = k.podRuntime(ctx, pod.UID); err != nil {
			return err
		}
	}

	if !initContainersDone(pod, pr) {
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			l := pr.latest(c.Name)
			if isSidecar(c) {
				if l == nil || l.State == runtime.ContainerExited {
					if err := k.maybeStart(ctx, w, pod, c, true, l, paths, v1.RestartPolicyAlways); err != nil {
						return err
					}
					return nil
				}
				if l.State != runtime.ContainerRunning {
					return nil
				}
				continue
			}
			switch {
			case l == nil:
				return k.startContainer(ctx, w, pod, c, true, 0, paths)
			case l.State != runtime.ContainerExited:
				return nil // running: wait for it to finish
			case l.ExitCode == 0:
				continue
			default:
				policy := pod.Spec.RestartPolicy
				if policy == v1.RestartPolicyAlways {
					policy = v1.RestartPolicyOnFailure // an init container is rerun only until it succeeds
				}
				return k.maybeStart(ctx, w, pod, c, true, l, paths, policy)
			}
		}
		return nil
	}
	var errs []error
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		l := pr.latest(c.Name)
		switch {
		case l == nil:
			errs = append(errs, k.startContainer(ctx, w, pod, c, false, 0, paths))
		case l.State == runtime.ContainerExited:
			errs = append(errs, k.maybeStart(ctx, w, pod, c, false, l, paths, pod.Spec.RestartPolicy))
		case l.State == runtime.ContainerCreated:
			// Created but never started (the agent stopped in between): start it now.
			if err := k.rt.StartContainer(ctx, l.ID); err != nil && !errors.Is(err, runtime.ErrFailedPrecondition) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func specOf(pod *v1.Pod, name string) (*v1.Container, bool) {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i], false
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i], true
		}
	}
	return nil, false
}

// shouldRestart applies a restart policy to an exited container.
func shouldRestart(policy v1.RestartPolicy, exitCode int) bool {
	switch policy {
	case v1.RestartPolicyNever:
		return false
	case v1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}

// maybeStart restarts an exited container if the policy wants it and its back-off allows.
func (k *Kubelet) maybeStart(ctx context.Context, w *podWorker, pod *v1.Pod, c *v1.Container, init bool,
	last *runtime.ContainerStatus, paths map[string]string, policy v1.RestartPolicy) error {
	if last == nil {
		return k.startContainer(ctx, w, pod, c, init, 0, paths)
	}
	if !shouldRestart(policy, last.ExitCode) {
		return nil
	}
	key := string(pod.UID) + "/" + c.Name
	if last.FinishedAt.Sub(last.StartedAt) >= backoffReset {
		k.restarts.Reset(key)
	}
	if in, delay := k.restarts.InBackoff(key, last.FinishedAt); in {
		prev := w.waiting[c.Name]
		w.waiting[c.Name] = &v1.ContainerStateWaiting{Reason: reasonCrashLoopBackOff,
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", delay, c.Name, formatPod(pod))}
		if prev == nil || prev.Reason != reasonCrashLoopBackOff || prev.Message != w.waiting[c.Name].Message {
			k.containerEvent(pod, c, init, v1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s", c.Name, formatPod(pod))
		}
		return nil
	}
	k.restarts.Next(key, last.FinishedAt)
	return k.startContainer(ctx, w, pod, c, init, last.Attempt+1, paths)
}

// formatPod is upstream's way of naming a pod in messages: name_namespace(uid).
func formatPod(pod *v1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

func fieldPath(c *v1.Container, init bool) string {
	if init {
		return fmt.Sprintf("spec.initContainers{%s}", c.Name)
	}
	return fmt.Sprintf("spec.containers{%s}", c.Name)
}

func podRef(pod *v1.Pod) *v1.ObjectReference {
	return &v1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}
}

func (k *Kubelet) podEvent(pod *v1.Pod, typ, reason, format string, args ...any) {
	k.recorder.Eventf(podRef(pod), typ, reason, format, args...)
}

func (k *Kubelet) containerEvent(pod *v1.Pod, c *v1.Container, init bool, typ, reason, format string, args ...any) {
	ref := podRef(pod)
	if c != nil {
		ref.FieldPath = fieldPath(c, init)
	}
	k.recorder.Eventf(ref, typ, reason, format, args...)
}

// newSandbox replaces a sandbox that is gone or stopped: its containers go with it, as upstream
// does when a sandbox dies.
func (k *Kubelet) newSandbox(ctx context.Context, w *podWorker, pod *v1.Pod, pr *podRuntime) (*podRuntime, error) {
	var attempt uint32
	if pr.sandbox != nil {
		attempt = pr.sandbox.Attempt + 1
		k.podEvent(pod, v1.EventTypeNormal, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
		if err := k.removeSandboxes(ctx, w, pod); err != nil {
			return nil, err
		}
	}
	w.podIP = ""
	if err := k.writePodFiles(pod, ""); err != nil {
		return nil, err
	}
	podDir := k.volumes.PodDir(pod.UID)
	parent, err := k.cgroups.Ensure(pod)
	if err != nil {
		k.podEvent(pod, v1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: pod cgroup: %v", err)
		return nil, err
	}
	_, err = k.rt.RunPodSandbox(ctx, &runtime.SandboxConfig{
		Name: pod.Name, Namespace: pod.Namespace, UID: string(pod.UID), Attempt: attempt,
		Hostname:    podHostname(pod),
		Labels:      map[string]string{labelPodName: pod.Name, labelPodNamespace: pod.Namespace, labelPodUID: string(pod.UID)},
		HostNetwork: pod.Spec.HostNetwork, HostPID: pod.Spec.HostPID, HostIPC: pod.Spec.HostIPC,
		ShareProcessNamespace: pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace,
		CgroupParent:          parent,
		ResolvConfPath:        filepath.Join(podDir, "resolv.conf"),
		HostsPath:             filepath.Join(podDir, "etc-hosts"),
	})
	if err != nil {
		k.podEvent(pod, v1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		return nil, err
	}
	k.reportHostRefusals()
	return k.podRuntime(ctx, pod.UID)
}

// stopSandbox stops a finished pod's sandbox and gives its address back.
func (k *Kubelet) stopSandbox(ctx context.Context, w *podWorker, pod *v1.Pod, pr *podRuntime) {
	if err := k.rt.StopPodSandbox(ctx, pr.sandbox.ID); err != nil {
		k.log.Warn("stopping sandbox", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
	if !pr.sandbox.HostNetwork {
		if err := k.net.Detach(string(pod.UID), pr.sandbox.NetNSPath); err != nil {
			k.log.Warn("detaching pod network", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
	}
}

// removeSandboxes stops and removes every sandbox of the pod (containers included) and
// detaches its network.
func (k *Kubelet) removeSandboxes(ctx context.Context, w *podWorker, pod *v1.Pod) error {
	sbs, err := k.allSandboxes(ctx, pod.UID)
	if err != nil {
		return err
	}
	var errs []error
	for _, sb := range sbs {
		if err := k.rt.StopPodSandbox(ctx, sb.ID); err != nil {
			errs = append(errs, err)
		}
	}
	var netns string
	if len(sbs) > 0 {
		netns = sbs[0].NetNSPath
	}
	if err := k.net.Detach(string(pod.UID), netns); err != nil {
		errs = append(errs, err)
	}
	for _, sb := range sbs {
		if err := k.rt.RemovePodSandbox(ctx, sb.ID); err != nil {
			errs = append(errs, err)
		}
	}
	w.podIP = ""
	return errors.Join(errs...)
}

// killPod stops the pod the way a deletion asks: preStop hooks and SIGTERM to every container
// at once, SIGKILL after the grace period; then (status written) the sandbox stops, the network
// is detached, the volumes are torn down and the sandbox is removed.
func (k *Kubelet) killPod(ctx context.Context, w *podWorker, pod *v1.Pod, grace time.Duration) error {
	k.prober.RemovePod(pod.UID)
	pr, err := k.podRuntime(ctx, pod.UID)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for name, l := range pr.containers {
		for _, c := range l {
			if c.State != runtime.ContainerRunning && c.State != runtime.ContainerCreated {
				continue
			}
			spec, _ := specOf(pod, name)
			wg.Add(1)
			go func() {
				defer wg.Done()
				k.stopContainer(ctx, pod, spec, c, grace, "")
			}()
		}
	}
	wg.Wait()
	if pr.sandbox != nil && !w.gone {
		if pr, err = k.podRuntime(ctx, pod.UID); err == nil {
			st := k.status(w, pod, pr)
			if err := k.writeStatus(ctx, w, pod, st); err != nil && !apierrors.IsNotFound(err) {
				k.log.Debug("final status", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			}
		}
	}
	if err := k.removeSandboxes(ctx, w, pod); err != nil {
		return err
	}
	if err := k.cgroups.Remove(pod.UID); err != nil {
		k.log.Warn("removing the pod cgroup", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
	if err := k.volumes.TearDown(ctx, pod.UID); err != nil {
		return err
	}
	os.RemoveAll(k.podLogDir(pod))
	k.restarts.Forget(string(pod.UID) + "/")
	k.pulls.Forget(string(pod.UID) + "/")
	return nil
}

// stopContainer runs the preStop hook, then stops the container within what is left of grace.
func (k *Kubelet) stopContainer(ctx context.Context, pod *v1.Pod, spec *v1.Container, c *runtime.ContainerStatus, grace time.Duration, msg string) {
	init := false
	if spec != nil {
		_, init = specOf(pod, spec.Name)
		if msg == "" {
			msg = fmt.Sprintf("Stopping container %s", spec.Name)
		}
		k.containerEvent(pod, spec, init, v1.EventTypeNormal, "Killing", "%s", msg)
	}
	start := time.Now()
	if spec != nil && spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil && c.State == runtime.ContainerRunning {
		hctx, cancel := context.WithTimeout(ctx, grace)
		if err := k.runHook(hctx, pod, c.ID, spec.Lifecycle.PreStop); err != nil {
			k.containerEvent(pod, spec, init, v1.EventTypeWarning, "FailedPreStopHook",
				"PreStopHook failed: %v", err)
		}
		cancel()
	}
	left := max(grace-time.Since(start), minGracePeriod)
	if err := k.rt.StopContainer(ctx, c.ID, left); err != nil {
		k.log.Warn("stopping container", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "err", err)
	}
}

func (k *Kubelet) podLogDir(pod *v1.Pod) string {
	return filepath.Join(k.logsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
}

func (k *Kubelet) containerLogPath(pod *v1.Pod, name string, attempt uint32) string {
	return filepath.Join(k.podLogDir(pod), name, strconv.FormatUint(uint64(attempt), 10)+".log")
}
