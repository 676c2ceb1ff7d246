package registry

import (
	"context"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// fullTyped sets every hook; each one records that it ran and what it saw.
func fullTyped(calls *[]string) Typed[*corev1.Pod] {
	rec := func(s string) { *calls = append(*calls, s) }
	bad := func(name string) field.ErrorList {
		return field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), name, "bad")}
	}
	return Typed[*corev1.Pod]{
		Default:          func(p *corev1.Pod) { rec("Default"); p.Labels = map[string]string{"defaulted": "yes"} },
		PrepareForCreate: func(p *corev1.Pod) { rec("PrepareForCreate"); p.Status.Phase = corev1.PodPending },
		PrepareForUpdate: func(p, old *corev1.Pod) { rec("PrepareForUpdate"); p.Status = old.Status },
		Validate:         func(p *corev1.Pod) field.ErrorList { rec("Validate"); return bad(p.Name) },
		ValidateUpdate: func(p, old *corev1.Pod) field.ErrorList {
			rec("ValidateUpdate")
			return bad(p.Name + "<-" + old.Name)
		},
		ValidateStatusUpdate: func(p, old *corev1.Pod) field.ErrorList {
			rec("ValidateStatusUpdate")
			return bad(p.Name + "<-" + old.Name)
		},
		GracePeriod: func(p *corev1.Pod, requested *int64) int64 {
			rec("GracePeriod")
			if requested != nil {
				return *requested
			}
			return 30
		},
		PrepareForDelete: func(p *corev1.Pod) { rec("PrepareForDelete"); p.Status.Reason = "deleting" },
		Held:             func(p *corev1.Pod) bool { rec("Held"); return true },
		SelectableFields: func(p *corev1.Pod) fields.Set {
			rec("SelectableFields")
			return fields.Set{"spec.nodeName": p.Spec.NodeName}
		},
	}
}

func pod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: "n1"}}
}

func TestTypedRightTypeRunsHook(t *testing.T) {
	ctx := context.Background()
	var calls []string
	s := fullTyped(&calls).Strategy()

	p := pod("a")
	s.Default(p)
	if p.Labels["defaulted"] != "yes" {
		t.Errorf("Default did not reach the pod: %v", p.Labels)
	}
	s.PrepareForCreate(ctx, p)
	if p.Status.Phase != corev1.PodPending {
		t.Errorf("PrepareForCreate did not reach the pod: %q", p.Status.Phase)
	}
	old := pod("b")
	old.Status.Phase = corev1.PodRunning
	s.PrepareForUpdate(ctx, p, old)
	if p.Status.Phase != corev1.PodRunning {
		t.Errorf("PrepareForUpdate did not get old: %q", p.Status.Phase)
	}
	for _, tc := range []struct {
		name string
		errs field.ErrorList
		want string
	}{
		{"Validate", s.Validate(ctx, p), "a"},
		{"ValidateUpdate", s.ValidateUpdate(ctx, p, old), "a<-b"},
		{"ValidateStatusUpdate", s.ValidateStatusUpdate(ctx, p, old), "a<-b"},
	} {
		if len(tc.errs) != 1 || tc.errs[0].Type != field.ErrorTypeInvalid || tc.errs[0].BadValue != tc.want {
			t.Errorf("%s: got %v, want the hook's one Invalid(%q)", tc.name, tc.errs, tc.want)
		}
	}
	if got := s.GracePeriod(p, nil); got != 30 {
		t.Errorf("GracePeriod(nil) = %d, want 30", got)
	}
	five := int64(5)
	if got := s.GracePeriod(p, &five); got != 5 {
		t.Errorf("GracePeriod(5) = %d, want 5", got)
	}
	s.PrepareForDelete(p)
	if p.Status.Reason != "deleting" {
		t.Errorf("PrepareForDelete did not reach the pod")
	}
	if !s.Held(p) {
		t.Errorf("Held = false, want the hook's true")
	}
	if got := s.SelectableFields(p); !reflect.DeepEqual(got, fields.Set{"spec.nodeName": "n1"}) {
		t.Errorf("SelectableFields = %v", got)
	}
	want := []string{"Default", "PrepareForCreate", "PrepareForUpdate", "Validate", "ValidateUpdate", "ValidateStatusUpdate",
		"GracePeriod", "GracePeriod", "PrepareForDelete", "Held", "SelectableFields"}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("hooks ran %v, want %v", calls, want)
	}
}

func TestTypedWrongTypeIsAnErrorNotAPanic(t *testing.T) {
	ctx := context.Background()
	var calls []string
	s := fullTyped(&calls).Strategy()
	p, svc := pod("a"), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "a"}}
	svcBefore := svc.DeepCopy()

	internal := func(name string, errs field.ErrorList, gotType string) {
		t.Helper()
		if len(errs) != 1 || errs[0].Type != field.ErrorTypeInternal {
			t.Fatalf("%s: got %v, want one internal error", name, errs)
		}
		if msg := errs[0].Detail; !strings.Contains(msg, "*v1.Pod") || !strings.Contains(msg, gotType) {
			t.Errorf("%s: %q should name the expected *v1.Pod and the %s it got", name, msg, gotType)
		}
	}
	internal("Validate", s.Validate(ctx, svc), "*v1.Service")
	internal("ValidateUpdate new", s.ValidateUpdate(ctx, svc, p), "*v1.Service")
	internal("ValidateUpdate old", s.ValidateUpdate(ctx, p, svc), "*v1.Service")
	internal("ValidateStatusUpdate new", s.ValidateStatusUpdate(ctx, svc, p), "*v1.Service")
	internal("ValidateStatusUpdate old", s.ValidateStatusUpdate(ctx, p, &corev1.Node{}), "*v1.Node")

	s.Default(svc)
	s.PrepareForCreate(ctx, svc)
	s.PrepareForUpdate(ctx, svc, p)
	s.PrepareForUpdate(ctx, p, svc)
	s.PrepareForDelete(svc)
	if !reflect.DeepEqual(svc, svcBefore) {
		t.Errorf("mutating hooks changed an object of the wrong type: %+v", svc)
	}
	if p.Status.Phase != "" {
		t.Errorf("PrepareForUpdate with a wrong old changed the pod: %+v", p.Status)
	}
	five := int64(5)
	if got := s.GracePeriod(svc, &five); got != 0 {
		t.Errorf("GracePeriod = %d, want 0 (immediate, as without a hook)", got)
	}
	if s.Held(svc) {
		t.Errorf("Held = true for a wrong type")
	}
	if got := s.SelectableFields(svc); got != nil {
		t.Errorf("SelectableFields = %v, want nil", got)
	}
	if len(calls) != 0 {
		t.Errorf("typed hooks ran on a wrong type: %v", calls)
	}
}

func TestTypedNilHooksStayNil(t *testing.T) {
	s := Typed[*corev1.Pod]{}.Strategy()
	v := reflect.ValueOf(s)
	for i := 0; i < v.NumField(); i++ {
		if !v.Field(i).IsNil() {
			t.Errorf("Strategy.%s is set, want nil", v.Type().Field(i).Name)
		}
	}
	// Only the hooks given are set.
	s = Typed[*corev1.Pod]{Validate: func(*corev1.Pod) field.ErrorList { return nil }}.Strategy()
	if s.Validate == nil || s.ValidateUpdate != nil || s.Default != nil {
		t.Errorf("Validate only: got Validate=%v ValidateUpdate=%v Default=%v", s.Validate != nil, s.ValidateUpdate != nil, s.Default != nil)
	}
}

func TestTypedCoversEveryStrategyHook(t *testing.T) {
	// A hook added to Strategy but not to Typed would leave packages with no typed way to set it.
	st, ty := reflect.TypeOf(Strategy{}), reflect.TypeOf(Typed[*corev1.Pod]{})
	for i := 0; i < st.NumField(); i++ {
		if _, ok := ty.FieldByName(st.Field(i).Name); !ok {
			t.Errorf("Typed has no %s", st.Field(i).Name)
		}
	}
}

func TestIgnoringOld(t *testing.T) {
	f := IgnoringOld(func(p *corev1.Pod) field.ErrorList {
		return field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), p.Name, "x")}
	})
	errs := f(pod("new"), pod("old"))
	if len(errs) != 1 || errs[0].BadValue != "new" {
		t.Errorf("got %v, want the check of the new object", errs)
	}
}
