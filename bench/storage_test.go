package bench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	skiffserver "github.com/skiff-dev/skiff/internal/server"
)

// startStorageNode is startPodNode with the scheduler and the controller manager on: claims on
// the default class (local-path, WaitForFirstConsumer) are provisioned by the PV controller for
// the node the scheduler picks, and the node agent makes and mounts the directories.
func startStorageNode(b *testing.B) *podNode {
	return startPodNodeConfig(b, false, func(cfg *skiffserver.Config) {
		cfg.DisableScheduler, cfg.DisableControllerManager = false, false
	})
}

// BenchmarkStatefulSetClaimsReady: a StatefulSet of 10 replicas, OrderedReady, one claim each on
// the default class, from the create to all 10 pods Running and Ready, through the whole system
// in this process (API server, scheduler with volume binding, controller manager with the
// StatefulSet and PV controllers, node agent with real containers). Target ≤ 5 s. The floor is
// the same StatefulSet without claims (an emptyDir instead), measured in the same run, so the
// difference is what storage costs an ordered start.
//
// Run: go test -run '^$' -bench StatefulSetClaimsReady -benchtime 1x ./bench (as root).
func BenchmarkStatefulSetClaimsReady(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	n := startStorageNode(b)
	var withClaims, without latencies
	const rounds = 3
	// One untimed round of each first: first starts pay one-time costs.
	for i := -1; i < rounds; i++ {
		for _, claims := range []bool{true, false} {
			ns := fmt.Sprintf("sts-%v-%d", claims, i+1)
			newNamespace(b, n.client, ns)
			d := n.orderedStart(b, ns, claims)
			if i < 0 {
				continue
			}
			if claims {
				withClaims = append(withClaims, d)
			} else {
				without = append(without, d)
			}
		}
	}
	b.ReportMetric(ms(withClaims.pct(0.5)), "claims-create-to-ready-p50-ms")
	b.ReportMetric(ms(withClaims.pct(1)), "claims-create-to-ready-max-ms")
	b.ReportMetric(ms(without.pct(0.5)), "emptydir-create-to-ready-p50-ms")
	b.ReportMetric(ms(withClaims.pct(0.5))/stsReplicas, "claims-ms/ordinal")
}

// orderedStart creates the set in ns and returns the time until all replicas are Ready, then
// deletes the set and its pods and waits for the node to be idle.
func (n *podNode) orderedStart(b *testing.B, ns string, claims bool) time.Duration {
	ctx := context.Background()
	ctr := v1.Container{Name: "c", Image: n.image, ImagePullPolicy: v1.PullNever, Command: []string{"sleep", "3600"},
		VolumeMounts: []v1.VolumeMount{{Name: "data", MountPath: "/data"}}}
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To[int32](stsReplicas),
			ServiceName:         "web",
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       v1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](0), Containers: []v1.Container{ctr}},
			},
		},
	}
	if claims {
		set.Spec.VolumeClaimTemplates = []v1.PersistentVolumeClaim{storageClaim("data")}
	} else {
		set.Spec.Template.Spec.Volumes = []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}}
	}
	start := time.Now()
	if _, err := n.client.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	waitReady(b, n.client, ns)
	d := time.Since(start)
	zero := int64(0)
	if err := n.client.AppsV1().StatefulSets(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		b.Fatal(err)
	}
	n.client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := n.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: pods still there a minute after deleting them", ns)
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.waitIdle(b, 60*time.Second)
	return d
}

func storageClaim(name string) v1.PersistentVolumeClaim {
	return v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PersistentVolumeClaimSpec{AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			Resources: v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")}}},
	}
}

// BenchmarkClaimPodStart: what a dynamically provisioned claim adds to a pod's start. Pairs of
// pods, both through the scheduler: one with a new claim on the default class (scheduled, the
// claim provisioned for that node and bound, the directory made and mounted), one with an
// emptyDir, from Create returning to a watcher seeing it Running, alternating the order, 20
// pairs after an untimed one. Target: the median difference ≤ 50 ms.
//
// Run: go test -run '^$' -bench ClaimPodStart -benchtime 1x ./bench (as root).
func BenchmarkClaimPodStart(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	n := startStorageNode(b)
	pw := n.watch(b)
	marks := n.watchMilestones(b)
	ctx := context.Background()
	const pairs = 20
	var claimRun, emptyRun, diffs latencies
	// Where a claim pod's time goes: create -> claim Bound (scheduling, provisioning, binding),
	// -> pod bound to the node (the scheduler's wait for the claim), -> Running (the node).
	var toBound, boundToScheduled, scheduledToRunning, emptyToScheduled latencies
	for i := -1; i < pairs; i++ {
		order := []bool{true, false}
		if i%2 != 0 {
			order = []bool{false, true}
		}
		var got [2]time.Duration
		for _, claim := range order {
			name := fmt.Sprintf("empty%d", i+1)
			pod := n.pod(name)
			pod.Spec.NodeName = "" // the scheduler's, as for the claim
			vol := v1.Volume{Name: "data", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}
			if claim {
				name = fmt.Sprintf("claim%d", i+1)
				pod.Name = name
				c := storageClaim(name)
				c.Namespace = "default"
				if _, err := n.client.CoreV1().PersistentVolumeClaims("default").Create(ctx, &c, metav1.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				vol.VolumeSource = v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: name}}
			}
			pod.Spec.Volumes = []v1.Volume{vol}
			pod.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "/data"}}
			if _, err := n.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			created := time.Now()
			if !pw.waitFor(30*time.Second, func(run, _ map[string]time.Time) bool { _, ok := run[name]; return ok }) {
				b.Fatalf("pod %s not Running within 30 s", name)
			}
			pw.mu.Lock()
			d := pw.running[name].Sub(created)
			pw.mu.Unlock()
			bound, scheduled := marks.at(name)
			if claim {
				got[0] = d
				if i >= 0 {
					toBound = append(toBound, bound.Sub(created))
					boundToScheduled = append(boundToScheduled, scheduled.Sub(bound))
					scheduledToRunning = append(scheduledToRunning, d-scheduled.Sub(created))
				}
			} else {
				got[1] = d
				if i >= 0 {
					emptyToScheduled = append(emptyToScheduled, scheduled.Sub(created))
				}
			}
			zero := int64(0)
			if err := n.client.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
				b.Fatal(err)
			}
			n.waitNoPods(b, 30*time.Second)
			n.waitIdle(b, 30*time.Second)
		}
		if i >= 0 {
			claimRun, emptyRun = append(claimRun, got[0]), append(emptyRun, got[1])
			diffs = append(diffs, got[0]-got[1]+time.Hour) // shifted: pct sorts durations, negatives included
		}
	}
	b.ReportMetric(ms(claimRun.pct(0.5)), "claim-running-p50-ms")
	b.ReportMetric(ms(emptyRun.pct(0.5)), "emptydir-running-p50-ms")
	b.ReportMetric(ms(claimRun.pct(0.9)), "claim-running-p90-ms")
	b.ReportMetric(ms(diffs.pct(0.5)-time.Hour), "claim-extra-p50-ms")
	b.ReportMetric(ms(toBound.pct(0.5)), "claim-create-to-bound-p50-ms")
	b.ReportMetric(ms(boundToScheduled.pct(0.5)), "claim-bound-to-scheduled-p50-ms")
	b.ReportMetric(ms(scheduledToRunning.pct(0.5)), "claim-scheduled-to-running-p50-ms")
	b.ReportMetric(ms(emptyToScheduled.pct(0.5)), "emptydir-create-to-scheduled-p50-ms")
}

// milestones records when a watch first saw each claim of default Bound and each pod of default
// bound to a node.
type milestones struct {
	mu        sync.Mutex
	bound     map[string]time.Time
	scheduled map[string]time.Time
}

func (n *podNode) watchMilestones(b *testing.B) *milestones {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	m := &milestones{bound: map[string]time.Time{}, scheduled: map[string]time.Time{}}
	pods, err := n.client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	claims, err := n.client.CoreV1().PersistentVolumeClaims("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for ev := range pods.ResultChan() {
			if p, ok := ev.Object.(*v1.Pod); ok && p.Spec.NodeName != "" {
				m.mu.Lock()
				if _, seen := m.scheduled[p.Name]; !seen {
					m.scheduled[p.Name] = time.Now()
				}
				m.mu.Unlock()
			}
		}
	}()
	go func() {
		for ev := range claims.ResultChan() {
			if c, ok := ev.Object.(*v1.PersistentVolumeClaim); ok && c.Status.Phase == v1.ClaimBound {
				m.mu.Lock()
				if _, seen := m.bound[c.Name]; !seen {
					m.bound[c.Name] = time.Now()
				}
				m.mu.Unlock()
			}
		}
	}()
	return m
}

func (m *milestones) at(name string) (bound, scheduled time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bound[name], m.scheduled[name]
}
