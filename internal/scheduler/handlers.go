package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-dev/skiff/internal/localpath"
	"github.com/skiff-dev/skiff/internal/scheduler/queue"
)

// clusterEvent names a change that may let parked pods fit.
type clusterEvent int

const (
	evNodeAdd clusterEvent = iota
	evNodeUpdate
	evAssignedPodAdd
	evAssignedPodUpdate
	evAssignedPodDelete
	evVolume
	evNamespace
)

// eventPlugins says which plugins' rejections an event can undo (nil: any). A pod parked by
// NodeResourcesFit waits for a pod to go or a node to change, not for a PVC to appear.
var eventPlugins = map[clusterEvent]sets.Set[string]{
	evNodeAdd:           nil,
	evNodeUpdate:        nil,
	evAssignedPodAdd:    sets.New("InterPodAffinity", "PodTopologySpread"),
	evAssignedPodUpdate: sets.New("InterPodAffinity", "PodTopologySpread", "NodeResourcesFit"),
	evAssignedPodDelete: sets.New("InterPodAffinity", "PodTopologySpread", "NodeResourcesFit", "NodePorts"),
	evVolume:            sets.New("VolumeBinding"),
	evNamespace:         sets.New("InterPodAffinity"),
}

func interestedIn(ev clusterEvent) func(*queue.QueuedPod) bool {
	want := eventPlugins[ev]
	return func(qp *queue.QueuedPod) bool {
		if want == nil || len(qp.UnschedulablePlugins) == 0 {
			return true
		}
		return want.HasAny(qp.UnschedulablePlugins.UnsortedList()...)
	}
}

func assigned(pod *corev1.Pod) bool { return pod.Spec.NodeName != "" }

func podOf(obj any) *corev1.Pod {
	switch o := obj.(type) {
	case *corev1.Pod:
		return o
	case cache.DeletedFinalStateUnknown:
		p, _ := o.Obj.(*corev1.Pod)
		return p
	}
	return nil
}

func nodeOf(obj any) *corev1.Node {
	switch o := obj.(type) {
	case *corev1.Node:
		return o
	case cache.DeletedFinalStateUnknown:
		n, _ := o.Obj.(*corev1.Node)
		return n
	}
	return nil
}

// addHandlers wires the informers: pods not finished (bound ones into the cache, our pending ones
// into the queue), nodes, and what the volume and affinity plugins read.
func (s *Scheduler) addHandlers() error {
	// Finished pods hold no resources; leaving them out of the watch keeps the cache small.
	s.podFactory = informers.NewSharedInformerFactoryWithOptions(s.client, 0, informers.WithTransform(dropManagedFields),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.AndSelectors(
				fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
				fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed))).String()
		}))
	podInformer := s.podFactory.Core().V1().Pods().Informer()
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.onPodAdd,
		UpdateFunc: s.onPodUpdate,
		DeleteFunc: s.onPodDelete,
	}); err != nil {
		return err
	}
	if _, err := s.factory.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n := nodeOf(obj); n != nil {
				s.cache.AddNode(n)
				s.queue.MoveAll(interestedIn(evNodeAdd))
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, n := nodeOf(oldObj), nodeOf(newObj)
			if n == nil {
				return
			}
			s.cache.UpdateNode(n)
			if o == nil || nodeChangeMatters(o, n) {
				s.queue.MoveAll(interestedIn(evNodeUpdate))
			}
		},
		DeleteFunc: func(obj any) {
			if n := nodeOf(obj); n != nil {
				s.cache.RemoveNode(n.Name)
			}
		},
	}); err != nil {
		return err
	}
	volumeChanged := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.queue.MoveAll(interestedIn(evVolume)) },
		UpdateFunc: func(any, any) { s.queue.MoveAll(interestedIn(evVolume)) },
	}
	for _, inf := range []cache.SharedIndexInformer{
		s.factory.Core().V1().PersistentVolumeClaims().Informer(),
		s.factory.Core().V1().PersistentVolumes().Informer(),
		s.factory.Storage().V1().StorageClasses().Informer(),
	} {
		if _, err := inf.AddEventHandler(volumeChanged); err != nil {
			return err
		}
	}
	if _, err := s.factory.Core().V1().Namespaces().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*corev1.Namespace)
			n, ok2 := newObj.(*corev1.Namespace)
			if ok1 && ok2 && !equality.Semantic.DeepEqual(o.Labels, n.Labels) {
				s.queue.MoveAll(interestedIn(evNamespace))
			}
		},
	}); err != nil {
		return err
	}
	return nil
}

// nodeChangeMatters ignores heartbeats: only what a filter or score reads moves parked pods (the
// local-path root annotation too: a node agent announcing it makes the node able to provision).
func nodeChangeMatters(o, n *corev1.Node) bool {
	if o.Spec.Unschedulable != n.Spec.Unschedulable || !equality.Semantic.DeepEqual(o.Labels, n.Labels) ||
		!equality.Semantic.DeepEqual(o.Spec.Taints, n.Spec.Taints) ||
		!equality.Semantic.DeepEqual(o.Status.Allocatable, n.Status.Allocatable) ||
		o.Annotations[localpath.RootAnnotation] != n.Annotations[localpath.RootAnnotation] {
		return true
	}
	return readyStatus(o) != readyStatus(n)
}

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

func (s *Scheduler) onPodAdd(obj any) {
	pod := podOf(obj)
	if pod == nil {
		return
	}
	if assigned(pod) {
		s.nominator.set(pod, "")
		s.cache.AddPod(pod)
		s.queue.MoveAll(interestedIn(evAssignedPodAdd))
		return
	}
	if s.responsible(pod) && pod.DeletionTimestamp == nil {
		s.nominator.set(pod, pod.Status.NominatedNodeName)
		s.queue.Add(pod)
	}
}

func (s *Scheduler) onPodUpdate(oldObj, newObj any) {
	o, pod := podOf(oldObj), podOf(newObj)
	if pod == nil {
		return
	}
	if assigned(pod) {
		if o != nil && !assigned(o) {
			// Bound (by us, confirmed; or by someone else): no longer waiting.
			s.queue.Delete(pod)
			s.nominator.set(pod, "")
		}
		s.cache.UpdatePod(pod)
		if o != nil && assigned(o) && !equality.Semantic.DeepEqual(o.Labels, pod.Labels) {
			s.queue.MoveAll(interestedIn(evAssignedPodUpdate))
		}
		return
	}
	if !s.responsible(pod) {
		return
	}
	if pod.DeletionTimestamp != nil {
		s.queue.Delete(pod)
		s.nominator.set(pod, "")
		return
	}
	if o == nil || o.Status.NominatedNodeName != pod.Status.NominatedNodeName {
		s.nominator.set(pod, pod.Status.NominatedNodeName)
	}
	s.queue.Update(pod)
}

func (s *Scheduler) onPodDelete(obj any) {
	pod := podOf(obj)
	if pod == nil {
		return
	}
	if assigned(pod) {
		s.cache.RemovePod(pod)
		s.queue.MoveAll(interestedIn(evAssignedPodDelete))
		return
	}
	s.queue.Delete(pod)
	s.nominator.set(pod, "")
}

// dropManagedFields keeps managedFields out of the informer caches, as upstream's scheduler does:
// nothing here reads them, and they are a fifth of a cached pod.
func dropManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil && m.GetManagedFields() != nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
