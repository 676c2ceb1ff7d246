package job

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// completionIndexEnv carries the index to the containers of an Indexed job's pods, from the
// annotation through the downward API, as upstream does.
const completionIndexEnv = "JOB_COMPLETION_INDEX"

// maxGenerateNameLength leaves room for the five random characters the API server appends within a
// 63-character name.
const maxGenerateNameLength = 58

// newPod makes one pod of the job; index is noIndex for NonIndexed jobs, failures the failure count
// of the index so far.
func newPod(j *batchv1.Job, index, failures int) *corev1.Pod {
	t := j.Spec.Template.DeepCopy()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   j.Namespace,
			Labels:      t.Labels,
			Annotations: t.Annotations,
			Finalizers:  append(t.Finalizers, batchv1.JobTrackingFinalizer),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "Job", Name: j.Name, UID: j.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: t.Spec,
	}
	base := j.Name
	if index == noIndex {
		p.GenerateName = truncate(base, maxGenerateNameLength-1) + "-"
		return p
	}
	ix := strconv.Itoa(index)
	p.GenerateName = truncate(base, maxGenerateNameLength-len(ix)-2) + "-" + ix + "-"
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Annotations[batchv1.JobCompletionIndexAnnotation] = ix
	p.Labels[batchv1.JobCompletionIndexAnnotation] = ix
	if j.Spec.BackoffLimitPerIndex != nil {
		p.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(failures)
	}
	if p.Spec.Hostname == "" {
		p.Spec.Hostname = truncate(j.Name+"-"+ix, 63)
	}
	env := corev1.EnvVar{Name: completionIndexEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
		FieldPath: fmt.Sprintf("metadata.annotations['%s']", batchv1.JobCompletionIndexAnnotation)}}}
	for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range list {
			if !hasEnv(list[i].Env, completionIndexEnv) {
				list[i].Env = append(list[i].Env, env)
			}
		}
	}
	return p
}

func hasEnv(env []corev1.EnvVar, name string) bool {
	for _, e := range env {
		if e.Name == name {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// podSpec is one pod to create: its index (noIndex for NonIndexed) and that index's failures.
type podSpec struct{ index, failures int }

// createPods creates the pods in slow-start batches (1, 2, 4, ...) so that a job whose pods are
// refused (quota, invalid template) costs one failed request, not hundreds. It returns how many
// were created and the first error.
func (c *Controller) createPods(ctx context.Context, j *batchv1.Job, key string, specs []podSpec) (int, error) {
	c.exp.expectCreates(key, len(specs), c.clock.Now())
	created := 0
	for batch := 1; len(specs) > 0; batch *= 2 {
		n := min(batch, len(specs))
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			firstErr error
			ok       int
		)
		for _, s := range specs[:n] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := c.cfg.Client.CoreV1().Pods(j.Namespace).Create(ctx, newPod(j, s.index, s.failures), metav1.CreateOptions{})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					c.exp.createObserved(key) // no watch event will come for it
					if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
						return
					}
					if firstErr == nil {
						firstErr = err
					}
					c.event(j, corev1.EventTypeWarning, ReasonFailedCreate, "Error creating: %v", err)
					return
				}
				ok++
				c.log.Debug("created pod", "job", key, "pod", p.Name)
				c.event(j, corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created pod: %v", p.Name)
			}()
		}
		wg.Wait()
		created += ok
		specs = specs[n:]
		if firstErr != nil {
			for range specs {
				c.exp.createObserved(key)
			}
			return created, firstErr
		}
	}
	return created, nil
}

// deletePods deletes the pods in parallel. A pod already gone counts as deleted.
func (c *Controller) deletePods(ctx context.Context, j *batchv1.Job, key string, pods []*corev1.Pod) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, p := range pods {
		c.exp.expectDelete(key, p.UID, c.clock.Now())
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.cfg.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			if err != nil {
				c.exp.deleteObserved(key, p.UID)
				if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
					return
				}
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			c.event(j, corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted pod: %v", p.Name)
		}()
	}
	wg.Wait()
	return firstErr
}

// removeFinalizerPatch drops only the tracking finalizer, whatever else the list holds.
var removeFinalizerPatch = func() []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"$deleteFromPrimitiveList/finalizers": []string{batchv1.JobTrackingFinalizer}}})
	return b
}()

// removeFinalizers removes the tracking finalizer from the pods in parallel and returns the UIDs
// of those that no longer have it (a pod already gone counts).
func (c *Controller) removeFinalizers(ctx context.Context, key string, pods []*corev1.Pod) (map[types.UID]bool, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		done     = map[types.UID]bool{}
	)
	for _, p := range pods {
		c.exp.expectFinalizerRemoved(key, p.UID, c.clock.Now())
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.cfg.Client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, removeFinalizerPatch, metav1.PatchOptions{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil && !apierrors.IsNotFound(err) {
				c.exp.finalizerRemovedObserved(key, p.UID)
				if firstErr == nil {
					firstErr = fmt.Errorf("removing the tracking finalizer of pod %s: %w", p.Name, err)
				}
				return
			}
			done[p.UID] = true
		}()
	}
	wg.Wait()
	return done, firstErr
}

// syncOrphanPod removes the tracking finalizer from a pod whose Job is gone, so that the pod can go
// too. The Job is looked up live: the cache may not have seen it yet.
func (c *Controller) syncOrphanPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	p, err := c.cfg.Informers.Core().V1().Pods().Lister().Pods(ns).Get(name)
	if apierrors.IsNotFound(err) || (err == nil && !hasTrackingFinalizer(p)) {
		return nil
	}
	if err != nil {
		return err
	}
	if ref := jobRef(p); ref != nil {
		j, err := c.cfg.Client.BatchV1().Jobs(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case err == nil && j.UID == ref.UID:
			return nil // the Job's own sync owns this pod
		case err != nil && !apierrors.IsNotFound(err):
			return err
		}
	}
	_, err = c.cfg.Client.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, removeFinalizerPatch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		c.log.Info("removed the tracking finalizer of an orphan pod", "pod", key)
	}
	return err
}

func (c *Controller) event(j *batchv1.Job, eventtype, reason, format string, args ...any) {
	if c.cfg.Recorder != nil {
		c.cfg.Recorder.Eventf(j, eventtype, reason, format, args...)
	}
}
