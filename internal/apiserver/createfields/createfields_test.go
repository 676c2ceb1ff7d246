package createfields

import (
	"bytes"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/randfill"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/typed"

	"github.com/skiff-dev/skiff/internal/apiserver/resources"
	"github.com/skiff-dev/skiff/internal/apiserver/scheme"
)

// validating is the type converter upstream's field manager uses: every object checked against
// the schema. The reference side of every comparison runs through it.
var validating = sync.OnceValue(func() managedfields.TypeConverter {
	return applyconfigurations.NewTypeConverter(scheme.Scheme)
})

type kindCase struct {
	gvk    schema.GroupVersionKind
	status bool // served with a status subresource: the main resource never owns status
}

func (k kindCase) String() string { return k.gvk.GroupVersion().String() + "/" + k.gvk.Kind }

func servedKinds() []kindCase {
	var out []kindCase
	for _, r := range resources.All(resources.Options{}) {
		out = append(out, kindCase{gvk: r.GroupVersionResource.GroupVersion().WithKind(r.Kind), status: r.Status})
	}
	return out
}

func emptyObject(t testing.TB, gvk schema.GroupVersionKind) runtime.Object {
	o, err := scheme.Scheme.New(gvk)
	if err != nil {
		t.Fatal(err)
	}
	o.GetObjectKind().SetGroupVersionKind(gvk)
	return o
}

// pair is the reference field manager and the tracker for one kind, set up as the API server
// sets up the main resource's.
type pair struct {
	k  kindCase
	fm *managedfields.FieldManager
	tr *Tracker
}

func newPair(t testing.TB, k kindCase) pair {
	gv := k.gvk.GroupVersion()
	var reset map[fieldpath.APIVersion]fieldpath.Filter
	if k.status {
		reset = map[fieldpath.APIVersion]fieldpath.Filter{
			fieldpath.APIVersion(gv.String()): fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status"))),
		}
	}
	fm, err := managedfields.NewDefaultFieldManager(validating(), scheme.Scheme, scheme.Scheme, scheme.Scheme, k.gvk, gv, "", reset)
	if err != nil {
		t.Fatal(err)
	}
	tv, err := validating().ObjectToTyped(emptyObject(t, k.gvk), typed.AllowDuplicates)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTracker(tv.Schema(), tv.TypeRef(), emptyObject(t, k.gvk), gv.String(), k.status)
	if err != nil {
		t.Fatal(err)
	}
	return pair{k: k, fm: fm, tr: tr}
}

// check creates obj through both and reports whether the tracker fell back; where it did not,
// the objects must be identical but for the entry's time, which must be set where upstream's is.
func (p pair) check(t *testing.T, obj runtime.Object, manager string) (fellBack bool) {
	t.Helper()
	want := p.fm.UpdateNoErrors(emptyObject(t, p.k.gvk), obj.DeepCopyObject(), manager)
	got := obj.DeepCopyObject()
	now := time.Now()
	if !p.tr.Track(got, manager, now) {
		return true
	}
	wm, gm := accessorOf(t, want).GetManagedFields(), accessorOf(t, got).GetManagedFields()
	if len(wm) != len(gm) {
		t.Fatalf("%v: entries differ:\nupstream: %s\ntracker:  %s", p.k, dump(wm), dump(gm))
	}
	for i := range wm {
		if (wm[i].Time == nil) != (gm[i].Time == nil) {
			t.Fatalf("%v: time set differs", p.k)
		}
		if gm[i].Time != nil && !gm[i].Time.Time.Equal(now.UTC()) {
			t.Fatalf("%v: time %v, want %v", p.k, gm[i].Time, now.UTC())
		}
		wm[i].Time, gm[i].Time = nil, nil
		if !bytes.Equal(wm[i].FieldsV1.Raw, gm[i].FieldsV1.Raw) {
			t.Fatalf("%v: FieldsV1 differ:\nupstream: %s\ntracker:  %s", p.k, wm[i].FieldsV1.Raw, gm[i].FieldsV1.Raw)
		}
	}
	if !apiequality.Semantic.DeepEqual(want, got) || !reflect.DeepEqual(wm, gm) {
		t.Fatalf("%v: objects differ:\nupstream: %s\ntracker:  %s", p.k, dump(wm), dump(gm))
	}
	return false
}

func accessorOf(t testing.TB, obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func dump(m []metav1.ManagedFieldsEntry) string {
	var b strings.Builder
	for _, e := range m {
		fmt.Fprintf(&b, "[%s %s %s %s] ", e.Manager, e.Operation, e.APIVersion, e.FieldsV1.Raw)
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }

func richPod() *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-0", Namespace: "default", GenerateName: "web-", UID: "u-1", ResourceVersion: "12", Generation: 3,
			CreationTimestamp: metav1.Now(),
			Labels:            map[string]string{"app": "web", "tier": "front", "app.kubernetes.io/name": "<web&>"},
			Annotations:       map[string]string{"note": "x", "empty": ""},
			Finalizers:        []string{"a/b", "c/d"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-1", UID: "rs-1",
				Controller: ptr(true), BlockOwnerDeletion: ptr(true)}},
		},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox", Command: []string{"sh", "-c", "true"}}},
			Containers: []corev1.Container{{
				Name: "app", Image: "nginx:1.25", ImagePullPolicy: corev1.PullIfNotPresent,
				Args:  []string{"--port", "80"},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}, {ContainerPort: 9090}},
				Env: []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B"}, {Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "SEC", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k", Optional: ptr(false)}}}},
				EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
				},
				VolumeMounts:             []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "cfg", MountPath: "/etc/cfg", ReadOnly: true, SubPath: "x"}},
				LivenessProbe:            &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80)}}, PeriodSeconds: 10},
				ReadinessProbe:           &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}},
				SecurityContext:          &corev1.SecurityContext{RunAsUser: ptr(int64(0)), Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}},
				TerminationMessagePath:   "/dev/termination-log",
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			}, {Name: "sidecar", Image: "busybox", Resources: corev1.ResourceRequirements{}}},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, DefaultMode: ptr(int32(0o644)),
					Items: []corev1.KeyToPath{{Key: "a", Path: "a"}}}}},
				{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
				{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp", Type: ptr(corev1.HostPathDirectoryOrCreate)}}},
				{Name: "pvc", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}},
				{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(3607))}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
				}}}},
			},
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: ptr(int64(30)),
			DNSPolicy:                     corev1.DNSClusterFirst,
			NodeSelector:                  map[string]string{"disk": "ssd"},
			ServiceAccountName:            "default",
			SecurityContext:               &corev1.PodSecurityContext{},
			SchedulerName:                 "default-scheduler",
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))},
				{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "x", Effect: corev1.TaintEffectNoSchedule},
			},
			Affinity: &corev1.Affinity{
				NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}}}}}},
				PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 10,
					PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}},
			},
			Priority:           ptr(int32(0)),
			EnableServiceLinks: ptr(true),
			PreemptionPolicy:   ptr(corev1.PreemptLowerPriority),
			HostAliases:        []corev1.HostAlias{{IP: "10.0.0.1", Hostnames: []string{"a"}}},
			ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "reg"}},
			TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule,
				LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpExists}}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}},
	}
}

// benchPod is the pod of the scheduling benchmark, after the API server's defaults.
func benchPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p-1", Namespace: "bench", Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "registry.local/pause:3.9",
				Resources:              corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
				TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent}},
			RestartPolicy: corev1.RestartPolicyAlways, TerminationGracePeriodSeconds: ptr(int64(30)), DNSPolicy: corev1.DNSClusterFirst,
			SecurityContext: &corev1.PodSecurityContext{}, SchedulerName: "default-scheduler", EnableServiceLinks: ptr(true),
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))},
			},
			Priority: ptr(int32(0)), PreemptionPolicy: ptr(corev1.PreemptLowerPriority),
		},
	}
}

func coreEvent() *corev1.Event {
	ts := metav1.NewTime(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "p-1.18a", Namespace: "bench"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "bench", Name: "p-1", UID: "u", APIVersion: "v1", ResourceVersion: "5"},
		Reason:         "Scheduled", Message: "Successfully assigned bench/p-1 to node-7", Type: corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: "default-scheduler"},
		FirstTimestamp: ts, LastTimestamp: ts, Count: 1,
		ReportingController: "default-scheduler", ReportingInstance: "default-scheduler-x",
	}
}

func eventsEvent() *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "p-1.18b", Namespace: "bench"},
		EventTime:           metav1.NewMicroTime(time.Date(2026, 11, 27, 10, 0, 0, 123000, time.UTC)),
		Series:              &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(time.Date(2026, 11, 27, 10, 1, 0, 0, time.UTC))},
		ReportingController: "default-scheduler", ReportingInstance: "x", Action: "Binding", Reason: "Scheduled",
		Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "bench", Name: "p-1"},
		Related:   &corev1.ObjectReference{Kind: "Node", Name: "node-7"},
		Note:      "assigned", Type: "Normal",
	}
}

func handWritten() []runtime.Object {
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Name: "kept", Labels: map[string]string{"app": "web"}, CreationTimestamp: metav1.Now()}, Spec: richPod().Spec},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr(intstr.FromString("25%")), MaxSurge: ptr(intstr.FromInt32(1))}},
			RevisionHistoryLimit: ptr(int32(10)), ProgressDeadlineSeconds: ptr(int32(600))},
		Status: appsv1.DeploymentStatus{Replicas: 1},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP, NodePort: 30080},
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: ptr(corev1.IPFamilyPolicySingleStack), SessionAffinity: corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptr(corev1.ServiceInternalTrafficPolicyCluster), ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster},
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-7", Labels: map[string]string{"kubernetes.io/hostname": "node-7"}, Annotations: map[string]string{"a": "b"}},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.7.0/24", PodCIDRs: []string{"10.244.7.0/24"}, Taints: []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110")},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now()}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.7"}}},
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"},
		Data: map[string]string{"a.conf": "x=1\n", "b": "", "c\u2028": "<>"}, BinaryData: map[string][]byte{"bin": {0, 1, 2}, "nil": nil}}
	emptyCM := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "empty", Namespace: "default"}, Data: map[string]string{}}
	bare := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: "default", UID: "x"}}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"k": []byte("v")}, Immutable: ptr(false)}
	lease := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: map[string]string{"kubernetes.io/metadata.name": "ns"}}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}}}
	pending := benchPod()
	pending.Spec.NodeName = "node-7"
	dupContainers := benchPod()
	dupContainers.Spec.Containers = append(dupContainers.Spec.Containers, dupContainers.Spec.Containers[0])
	dupEnv := richPod()
	dupEnv.Spec.Containers[0].Env = append(dupEnv.Spec.Containers[0].Env, corev1.EnvVar{Name: "A", Value: "2"})
	dupEnv.Finalizers = append(dupEnv.Finalizers, "a/b")
	emptyKey := benchPod()
	emptyKey.Spec.Containers[0].Name = ""
	emptyPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "default"}, Spec: corev1.PodSpec{Containers: []corev1.Container{}}}
	return []runtime.Object{richPod(), benchPod(), pending, dupContainers, dupEnv, emptyKey, emptyPod, coreEvent(), eventsEvent(), dep, svc, node, cm, emptyCM, bare, sec, lease}
}

func kindOf(t testing.TB, obj runtime.Object) schema.GroupVersionKind {
	gvks, _, err := scheme.Scheme.ObjectKinds(obj)
	if err != nil {
		t.Fatal(err)
	}
	return gvks[0]
}

func statusOf(gvk schema.GroupVersionKind) bool {
	for _, k := range servedKinds() {
		if k.gvk == gvk {
			return k.status
		}
	}
	return false
}

func TestHandWrittenObjectsMatchTheFieldManager(t *testing.T) {
	for _, obj := range handWritten() {
		gvk := kindOf(t, obj)
		for _, manager := range []string{"kubectl-create", "", "kube-scheduler"} {
			t.Run(gvk.Kind+"/"+accessorOf(t, obj).GetName()+"/"+manager, func(t *testing.T) {
				p := newPair(t, kindCase{gvk: gvk, status: statusOf(gvk)})
				if p.check(t, obj, manager) {
					t.Fatalf("fell back to the field manager on a plain object")
				}
			})
		}
	}
}

// Objects the tracker must not handle: the field manager does something other than a plain
// create with them.
func TestFallsBack(t *testing.T) {
	p := newPair(t, kindCase{gvk: corev1.SchemeGroupVersion.WithKind("Pod"), status: true})
	withFields := benchPod()
	withFields.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "m", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}}}
	reset := benchPod()
	reset.ManagedFields = []metav1.ManagedFieldsEntry{}
	lastApplied := benchPod()
	lastApplied.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"}
	cases := []struct {
		name    string
		obj     *corev1.Pod
		manager string
	}{
		{"managed fields", withFields, "m"},
		{"reset managed fields", reset, "m"},
		{"last applied", lastApplied, "m"},
		{"manager not UTF-8", benchPod(), "bad\xff"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !p.check(t, tc.obj, tc.manager) {
				t.Fatalf("the tracker handled it; it must fall back")
			}
			if got := tc.obj.ManagedFields; !reflect.DeepEqual(got, tc.obj.DeepCopy().ManagedFields) {
				t.Fatalf("the object was changed")
			}
		})
	}
	other := eventsEvent()
	if p.tr.Track(other, "m", time.Now()) {
		t.Fatalf("a tracker for pods handled an event")
	}
}

func fillFuncs(runtimeserializer.CodecFactory) []any {
	const alphabet = "abcxyz019-./<>&\"\\é\u2028 "
	return []any{
		// Mostly non-empty strings, so list keys rarely collide and the walk reaches deep.
		func(j *string, c randfill.Continue) {
			if c.Intn(10) == 0 {
				*j = ""
				return
			}
			r := []rune(alphabet)
			b := make([]rune, 1+c.Intn(8))
			for i := range b {
				b[i] = r[c.Intn(len(r))]
			}
			*j = string(b)
		},
		func(j *intstr.IntOrString, c randfill.Continue) {
			if c.Bool() {
				*j = intstr.FromInt32(c.Int31n(100000))
			} else {
				*j = intstr.FromString(c.String(8))
			}
		},
		func(j *metav1.ObjectMeta, c randfill.Continue) {
			c.FillNoCustom(j)
			j.ManagedFields = nil
			if c.Intn(4) == 0 {
				j.Labels = map[string]string{} // present but empty
			}
		},
		func(j *metav1.Time, c randfill.Continue) {
			if c.Bool() {
				*j = metav1.Time{}
				return
			}
			*j = metav1.Unix(c.Int63n(1<<32), 0)
		},
		func(j *metav1.MicroTime, c randfill.Continue) {
			if c.Bool() {
				*j = metav1.MicroTime{}
				return
			}
			*j = metav1.NewMicroTime(time.Unix(c.Int63n(1<<32), c.Int63n(1e9)).Truncate(time.Microsecond))
		},
	}
}

// Randomly filled objects of every served kind: where the tracker answers, it answers exactly
// as the field manager does. Fallbacks are counted; they cost speed, not correctness.
func TestRandomObjectsMatchTheFieldManager(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 60
	}
	for _, k := range servedKinds() {
		t.Run(k.String(), func(t *testing.T) {
			p := newPair(t, k)
			seed := int64(len(k.String()))*7919 + int64(k.gvk.Kind[0])
			for _, profile := range []struct {
				nilChance float64
				min, max  int
			}{{0.2, 1, 3}, {0.5, 0, 2}, {0.05, 0, 1}} {
				f := fuzzer.FuzzerFor(fuzzer.MergeFuzzerFuncs(metafuzzer.Funcs, fillFuncs), rand.NewSource(seed), scheme.Codecs).
					NilChance(profile.nilChance).NumElements(profile.min, profile.max).MaxDepth(12)
				fell := 0
				reasons := map[string]int{}
				for i := 0; i < n/3; i++ {
					obj := emptyObject(t, k.gvk)
					f.Fill(obj)
					obj.GetObjectKind().SetGroupVersionKind(k.gvk)
					if p.check(t, obj, fmt.Sprintf("m%d", i%3)) {
						fell++
						if _, err := p.tr.Fields(obj); err != nil {
							reasons[err.Error()]++
						}
					}
				}
				t.Logf("%v nil=%.2f: %d of %d fell back %v", k, profile.nilChance, fell, n/3, reasons)
				if fell == n/3 && n/3 > 0 {
					t.Logf("%v: every object fell back", k)
				}
			}
		})
	}
}

func BenchmarkCreateManagedFields(b *testing.B) {
	for _, tc := range []struct {
		name string
		obj  runtime.Object
	}{{"pod", benchPod()}, {"richpod", richPod()}, {"event", coreEvent()}, {"eventsv1", eventsEvent()}} {
		gvk := kindOf(b, tc.obj)
		k := kindCase{gvk: gvk, status: statusOf(gvk)}
		p := newPair(b, k)
		// The production field manager: the API server's trusted converter skips the schema
		// walk of Go-typed objects, so the comparison is against the same manager it uses.
		b.Run(tc.name+"/fieldmanager", func(b *testing.B) {
			fm := p.fm
			fm.UpdateNoErrors(emptyObject(b, gvk), tc.obj.DeepCopyObject(), "m")
			objs := make([]runtime.Object, b.N)
			for i := range objs {
				objs[i] = tc.obj.DeepCopyObject()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				fm.UpdateNoErrors(emptyObject(b, gvk), objs[i], "m")
			}
		})
		b.Run(tc.name+"/createfields", func(b *testing.B) {
			objs := make([]runtime.Object, b.N)
			for i := range objs {
				objs[i] = tc.obj.DeepCopyObject()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !p.tr.Track(objs[i], "m", time.Now()) {
					b.Fatal("fell back")
				}
			}
		})
	}
}
