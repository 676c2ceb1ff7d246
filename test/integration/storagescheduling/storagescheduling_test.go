package storagescheduling

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/controllermanager"
	"github.com/skiff-dev/skiff/internal/localpath"
	"github.com/skiff-dev/skiff/internal/scheduler/plugins"
	"github.com/skiff-dev/skiff/internal/server"
	"github.com/skiff-dev/skiff/internal/testserver"
)

const staticClass = "local-static"

type env struct {
	t   *testing.T
	ctx context.Context
	cs  kubernetes.Interface
	ns  string
}

// pvController names the PV controller in the Controllers table, "" when this build has none.
func pvController() string {
	for _, d := range controllermanager.Controllers {
		if strings.Contains(d.Name, "persistentvolume") && !strings.Contains(d.Name, "protection") {
			return d.Name
		}
	}
	return ""
}

// start runs a server with the scheduler (unless noScheduler) and the given controllers.
func start(t *testing.T, noScheduler bool, controllers ...string) *env {
	t.Helper()
	s := testserver.Start(t, testserver.Options{Mutate: func(c *server.Config) {
		c.DisableScheduler = noScheduler
		c.DisableControllerManager = len(controllers) == 0
		c.Controllers = controllers
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, cs: s.Client, ns: "storage"}
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// node creates a Ready node.
func (e *env) node(name string) {
	e.t.Helper()
	n, err := e.cs.CoreV1().Nodes().Create(e.ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{corev1.LabelHostname: name}}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods: resource.MustParse("110")}
	n.Status = corev1.NodeStatus{Capacity: rl, Allocatable: rl, Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}}
	if _, err := e.cs.CoreV1().Nodes().UpdateStatus(e.ctx, n, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// staticClass creates the WaitForFirstConsumer class for hand-made local volumes.
func (e *env) staticClass() {
	e.t.Helper()
	mode := storagev1.VolumeBindingWaitForFirstConsumer
	if _, err := e.cs.StorageV1().StorageClasses().Create(e.ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: staticClass},
		Provisioner: "kubernetes.io/no-provisioner", VolumeBindingMode: &mode}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// localPV creates an Available local volume of size on node.
func (e *env) localPV(name, size, node string) {
	e.t.Helper()
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{StorageClassName: staticClass,
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/" + name}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}}}}
	if _, err := e.cs.CoreV1().PersistentVolumes().Create(e.ctx, pv, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	// Without the PV controller nobody sets the phase of a new volume: do it as it would.
	e.poll("volume "+name+" Available", func() (bool, error) {
		cur, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if cur.Status.Phase == corev1.VolumeAvailable {
			return true, nil
		}
		if pvController() != "" {
			return false, nil
		}
		cur.Status.Phase = corev1.VolumeAvailable
		_, err = e.cs.CoreV1().PersistentVolumes().UpdateStatus(e.ctx, cur, metav1.UpdateOptions{})
		return err == nil, nil
	})
}

func (e *env) claim(name, className, size string) {
	e.t.Helper()
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &className,
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}}}
	if _, err := e.cs.CoreV1().PersistentVolumeClaims(e.ns).Create(e.ctx, c, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// pod creates a pod using claim; nodeName set makes it skip the scheduler.
func (e *env) pod(name, claim, nodeName string) {
	e.t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}}}
	if _, err := e.cs.CoreV1().Pods(e.ns).Create(e.ctx, p, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) poll(what string, cond func() (bool, error)) {
	e.t.Helper()
	if err := wait.PollUntilContextTimeout(e.ctx, 20*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) { return cond() }); err != nil {
		e.t.Fatalf("waiting for %s: %v", what, err)
	}
}

func (e *env) boundNode(pod string) string {
	p, err := e.cs.CoreV1().Pods(e.ns).Get(e.ctx, pod, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Spec.NodeName
}

// event waits for an event about the pod with reason whose message contains want.
func (e *env) event(pod, reason, want string) string {
	e.t.Helper()
	var last string
	e.poll(fmt.Sprintf("%s event on %s containing %q (last: %q)", reason, pod, want, last), func() (bool, error) {
		evs, err := e.cs.CoreV1().Events(e.ns).List(e.ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", pod).String()})
		if err != nil {
			return false, err
		}
		for _, ev := range evs.Items {
			if ev.Reason == reason {
				last = ev.Message
				if strings.Contains(ev.Message, want) {
					return true, nil
				}
			}
		}
		return false, nil
	})
	return last
}

func TestStaticLocalVolumeChoosesNode(t *testing.T) {
	pvc := pvController()
	if pvc == "" {
		t.Skip("needs the PV controller (branch pvbinder) to complete binding")
	}
	e := start(t, false, pvc, "pvc-protection", "pv-protection")
	e.staticClass()
	e.node("n1")
	e.node("n2")
	e.localPV("small-n1", "1Gi", "n1")
	e.localPV("big-n2", "2Gi", "n2")
	e.claim("data", staticClass, "2Gi")
	e.pod("app", "data", "")
	e.poll("pod bound", func() (bool, error) { return e.boundNode("app") != "", nil })
	if n := e.boundNode("app"); n != "n2" {
		t.Fatalf("pod landed on %s, want n2 where the only fitting volume lives", n)
	}
	e.poll("claim and volume Bound", func() (bool, error) {
		c, err := e.cs.CoreV1().PersistentVolumeClaims(e.ns).Get(e.ctx, "data", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pv, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, "big-n2", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return c.Status.Phase == corev1.ClaimBound && c.Spec.VolumeName == "big-n2" && pv.Status.Phase == corev1.VolumeBound, nil
	})
	small, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, "small-n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if small.Spec.ClaimRef != nil || small.Status.Phase != corev1.VolumeAvailable {
		t.Errorf("the other volume was touched: claimRef %+v, phase %s", small.Spec.ClaimRef, small.Status.Phase)
	}
	c, _ := e.cs.CoreV1().PersistentVolumeClaims(e.ns).Get(e.ctx, "data", metav1.GetOptions{})
	if _, ok := c.Annotations["volume.kubernetes.io/selected-node"]; ok {
		t.Errorf("a static binding set the selected-node annotation: %v", c.Annotations)
	}
}

func TestMissingClaimStaysPending(t *testing.T) {
	e := start(t, false)
	e.node("n1")
	e.pod("orphan", "nope", "")
	e.event("orphan", "FailedScheduling", `persistentvolumeclaim "nope" not found`)
	if n := e.boundNode("orphan"); n != "" {
		t.Fatalf("pod with a missing claim was bound to %s", n)
	}
	// The claim appears (an unbound immediate one with nothing to bind to): another reason.
	e.claim("nope", "", "1Gi")
	e.event("orphan", "FailedScheduling", plugins.ReasonUnboundImmediate)
}

func TestTwoPodsOneVolume(t *testing.T) {
	var ctrls []string
	if pvc := pvController(); pvc != "" {
		ctrls = []string{pvc}
	}
	e := start(t, false, ctrls...)
	e.staticClass()
	e.node("n1")
	e.node("n2")
	e.claim("c1", staticClass, "1Gi")
	e.claim("c2", staticClass, "1Gi")
	e.pod("p1", "c1", "")
	e.pod("p2", "c2", "")
	// Both wait for a volume; the one that comes wakes both, scheduled back to back.
	e.event("p1", "FailedScheduling", plugins.ReasonBindConflict)
	e.event("p2", "FailedScheduling", plugins.ReasonBindConflict)
	e.localPV("only", "1Gi", "n1")
	// Whichever is scheduled first holds the volume; the other must not get it.
	var winner, loser string
	e.poll("volume pre-bound", func() (bool, error) {
		pv, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, "only", metav1.GetOptions{})
		if err != nil || pv.Spec.ClaimRef == nil {
			return false, err
		}
		switch pv.Spec.ClaimRef.Name {
		case "c1":
			winner, loser = "p1", "p2"
		case "c2":
			winner, loser = "p2", "p1"
		default:
			return false, fmt.Errorf("volume bound to %s", pv.Spec.ClaimRef.Name)
		}
		return true, nil
	})
	e.event(loser, "FailedScheduling", plugins.ReasonBindConflict)
	// Held in memory from the winner's Reserve on: the loser never even tried to pre-bind it.
	evs, err := e.cs.CoreV1().Events(e.ns).List(e.ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", loser).String()})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs.Items {
		if strings.Contains(ev.Message, "PreBind") {
			t.Errorf("the loser was offered the volume held by the winner: %s %q", ev.Reason, ev.Message)
		}
	}
	if ctrls != nil {
		e.poll("winner bound", func() (bool, error) { return e.boundNode(winner) == "n1", nil })
	}
	time.Sleep(500 * time.Millisecond)
	if n := e.boundNode(loser); n != "" {
		t.Fatalf("%s was bound to %s without a volume", loser, n)
	}
	pv, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, "only", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "c" + winner[1:]; pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Name != want {
		t.Fatalf("volume claimRef = %+v, want %s", pv.Spec.ClaimRef, want)
	}
	// A second volume for the loser: the volume event retries it at once.
	e.localPV("second", "1Gi", "n2")
	if ctrls != nil {
		e.poll("loser bound", func() (bool, error) { return e.boundNode(loser) == "n2", nil })
	} else {
		e.poll("second volume pre-bound", func() (bool, error) {
			pv, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, "second", metav1.GetOptions{})
			return err == nil && pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.Name == "c"+loser[1:], err
		})
	}
}

func TestProtectionFinalizers(t *testing.T) {
	e := start(t, true, "pvc-protection", "pv-protection")
	e.claim("held", "", "1Gi")
	e.pod("user", "held", "n1")
	e.pod("done", "held", "n1")
	done, err := e.cs.CoreV1().Pods(e.ns).Get(e.ctx, "done", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done.Status.Phase = corev1.PodSucceeded
	if _, err := e.cs.CoreV1().Pods(e.ns).UpdateStatus(e.ctx, done, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.cs.CoreV1().PersistentVolumeClaims(e.ns).Delete(e.ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // long enough for the controller to act if it wrongly would
	c, err := e.cs.CoreV1().PersistentVolumeClaims(e.ns).Get(e.ctx, "held", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("claim in use by a running pod went: %v", err)
	}
	if c.DeletionTimestamp == nil || len(c.Finalizers) == 0 || c.Finalizers[0] != "kubernetes.io/pvc-protection" {
		t.Fatalf("claim: deletionTimestamp %v, finalizers %v", c.DeletionTimestamp, c.Finalizers)
	}
	if err := e.cs.CoreV1().Pods(e.ns).Delete(e.ctx, "user", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	e.poll("claim removed", func() (bool, error) {
		_, err := e.cs.CoreV1().PersistentVolumeClaims(e.ns).Get(e.ctx, "held", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})

	// A Bound volume stays while being deleted; once Released it goes.
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "vol"},
		Spec: corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/vol"}},
			ClaimRef:               &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: e.ns, Name: "held"}}}
	pv, err = e.cs.CoreV1().PersistentVolumes().Create(e.ctx, pv, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setPhase := func(phase corev1.PersistentVolumePhase) {
		t.Helper()
		cur, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, "vol", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Status.Phase = phase
		if _, err := e.cs.CoreV1().PersistentVolumes().UpdateStatus(e.ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setPhase(corev1.VolumeBound)
	if err := e.cs.CoreV1().PersistentVolumes().Delete(e.ctx, "vol", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if _, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, "vol", metav1.GetOptions{}); err != nil {
		t.Fatalf("bound volume went: %v", err)
	}
	setPhase(corev1.VolumeReleased)
	e.poll("volume removed", func() (bool, error) {
		_, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, "vol", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

func TestLocalPathProvisionedWhereScheduled(t *testing.T) {
	pvc := pvController()
	if pvc == "" {
		t.Skip("needs the PV controller (branch pvbinder) to provision")
	}
	e := start(t, false, pvc)
	e.node("bare")
	e.node("with-root")
	n, err := e.cs.CoreV1().Nodes().Get(e.ctx, "with-root", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Annotations = map[string]string{localpath.RootAnnotation: "/var/lib/skiff/storage/local-path"}
	if _, err := e.cs.CoreV1().Nodes().Update(e.ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.claim("dyn", localpath.ClassName, "1Gi")
	e.pod("app", "dyn", "")
	e.poll("pod bound", func() (bool, error) { return e.boundNode("app") != "", nil })
	if got := e.boundNode("app"); got != "with-root" {
		t.Fatalf("pod landed on %s, want the node that can host local-path volumes", got)
	}
	c, err := e.cs.CoreV1().PersistentVolumeClaims(e.ns).Get(e.ctx, "dyn", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The scheduler binds the pod only once the claim is bound.
	if c.Spec.VolumeName == "" || c.Annotations["volume.kubernetes.io/selected-node"] != "with-root" {
		t.Fatalf("claim at pod binding: volumeName %q, annotations %v", c.Spec.VolumeName, c.Annotations)
	}
	pv, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, c.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 1 || terms[0].MatchExpressions[0].Values[0] != "with-root" {
		t.Errorf("provisioned volume's node affinity: %+v", terms)
	}
}
