package priority

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/admissiontest"
)

func pc(name string, value int32, def bool, policy *corev1.PreemptionPolicy) *schedulingv1.PriorityClass {
	return &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value, GlobalDefault: def, PreemptionPolicy: policy}
}

func TestAdmitPod(t *testing.T) {
	never := corev1.PreemptNever
	lower := corev1.PreemptLowerPriority
	cases := []struct {
		name       string
		classes    []*schedulingv1.PriorityClass
		className  string
		priority   *int32
		policy     *corev1.PreemptionPolicy
		wantClass  string
		wantValue  int32
		wantPolicy *corev1.PreemptionPolicy
		wantErr    string
	}{
		{name: "no class, no default", wantValue: 0},
		{name: "no class, global default", classes: []*schedulingv1.PriorityClass{pc("low", 10, true, &never)}, wantClass: "low", wantValue: 10, wantPolicy: &never},
		{name: "named class", classes: []*schedulingv1.PriorityClass{pc("high", 1000, false, &lower), pc("low", 10, true, nil)}, className: "high", wantClass: "high", wantValue: 1000, wantPolicy: &lower},
		{name: "unknown class", className: "ghost", wantErr: `pods "p" is forbidden: no PriorityClass with name ghost was found`},
		{name: "matching priority given", classes: []*schedulingv1.PriorityClass{pc("high", 1000, false, nil)}, className: "high", priority: ptr.To[int32](1000), wantClass: "high", wantValue: 1000},
		{name: "conflicting priority given", classes: []*schedulingv1.PriorityClass{pc("high", 1000, false, nil)}, className: "high", priority: ptr.To[int32](5),
			wantErr: `pods "p" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name`},
		{name: "priority without class", priority: ptr.To[int32](7),
			wantErr: `pods "p" is forbidden: the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name`},
		{name: "conflicting policy", classes: []*schedulingv1.PriorityClass{pc("high", 1000, false, &lower)}, className: "high", policy: &never,
			wantErr: `pods "p" is forbidden: the string value of PreemptionPolicy (Never) must not be provided in pod spec; priority admission controller computed PreemptLowerPriority from the given PriorityClass name`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := admissiontest.New()
			for _, c := range tc.classes {
				l.Add(c)
			}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
				Spec: corev1.PodSpec{PriorityClassName: tc.className, Priority: tc.priority, PreemptionPolicy: tc.policy}}
			err := New(l).Admit(context.Background(), &admission.Attributes{Operation: admission.Create, Resource: podsGVR, Namespace: "ns", Name: "p", Object: pod})
			if tc.wantErr != "" {
				if !apierrors.IsForbidden(err) || err.Error() != tc.wantErr {
					t.Fatalf("got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pod.Spec.PriorityClassName != tc.wantClass || pod.Spec.Priority == nil || *pod.Spec.Priority != tc.wantValue {
				t.Fatalf("got class %q priority %v, want %q %d", pod.Spec.PriorityClassName, pod.Spec.Priority, tc.wantClass, tc.wantValue)
			}
			if (pod.Spec.PreemptionPolicy == nil) != (tc.wantPolicy == nil) || (tc.wantPolicy != nil && *pod.Spec.PreemptionPolicy != *tc.wantPolicy) {
				t.Fatalf("preemptionPolicy = %v, want %v", pod.Spec.PreemptionPolicy, tc.wantPolicy)
			}
		})
	}
}

func TestUpdateKeepsPriority(t *testing.T) {
	old := &corev1.Pod{Spec: corev1.PodSpec{Priority: ptr.To[int32](42)}}
	pod := &corev1.Pod{}
	if err := New(admissiontest.New()).Admit(context.Background(), &admission.Attributes{Operation: admission.Update, Resource: podsGVR, Object: pod, OldObject: old}); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.Priority == nil || *pod.Spec.Priority != 42 {
		t.Fatalf("priority = %v, want 42", pod.Spec.Priority)
	}
}

func TestValidateGlobalDefault(t *testing.T) {
	cases := []struct {
		name    string
		op      admission.Operation
		obj     *schedulingv1.PriorityClass
		wantErr bool
	}{
		{"second default", admission.Create, pc("other", 1, true, nil), true},
		{"not default", admission.Create, pc("other", 1, false, nil), false},
		{"existing default updated", admission.Update, pc("def", 2, true, nil), false},
		{"other made default", admission.Update, pc("other", 2, true, nil), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := admissiontest.New(pc("def", 5, true, nil))
			err := New(l).Validate(context.Background(), &admission.Attributes{Operation: tc.op, Resource: priorityClassesGVR, Name: tc.obj.Name, Object: tc.obj})
			if tc.wantErr != apierrors.IsForbidden(err) {
				t.Fatalf("got %v, want forbidden=%v", err, tc.wantErr)
			}
			if tc.wantErr && err.Error() != `priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass def is already marked as default. Only one default can exist` {
				t.Fatalf("message %q", err.Error())
			}
		})
	}
}
