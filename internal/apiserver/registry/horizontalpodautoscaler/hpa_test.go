package horizontalpodautoscaler

import (
	"context"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func ptr[T any](v T) *T { return &v }

func qty(s string) *resource.Quantity { q := resource.MustParse(s); return &q }

var ref = autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}

func hpaV2(mut func(*autoscalingv2.HorizontalPodAutoscaler)) *autoscalingv2.HorizontalPodAutoscaler {
	h := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: ref, MaxReplicas: 5},
	}
	if mut != nil {
		mut(h)
	}
	return h
}

func TestDefault(t *testing.T) {
	h := hpaV2(func(h *autoscalingv2.HorizontalPodAutoscaler) {
		h.Annotations = map[string]string{MetricSpecsAnnotation: "[]", "keep": "me"}
		h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(int32(60))},
		}
	})
	Default(h)
	if *h.Spec.MinReplicas != 1 || len(h.Spec.Metrics) != 1 || !isCPUUtilization(h.Spec.Metrics[0]) ||
		*h.Spec.Metrics[0].Resource.Target.AverageUtilization != 80 {
		t.Fatalf("spec defaults: %+v", h.Spec)
	}
	up, down := h.Spec.Behavior.ScaleUp, h.Spec.Behavior.ScaleDown
	if *up.StabilizationWindowSeconds != 0 || *up.SelectPolicy != autoscalingv2.MaxChangePolicySelect || len(up.Policies) != 2 ||
		up.Policies[0].Type != autoscalingv2.PodsScalingPolicy || up.Policies[0].Value != 4 || up.Policies[1].Value != 100 {
		t.Fatalf("scaleUp defaults: %+v", up)
	}
	if *down.StabilizationWindowSeconds != 60 || len(down.Policies) != 1 || down.Policies[0].Type != autoscalingv2.PercentScalingPolicy {
		t.Fatalf("scaleDown defaults: %+v", down)
	}
	if _, ok := h.Annotations[MetricSpecsAnnotation]; ok || h.Annotations["keep"] != "me" {
		t.Fatalf("annotations: %v", h.Annotations)
	}

	set := hpaV2(func(h *autoscalingv2.HorizontalPodAutoscaler) {
		h.Spec.MinReplicas = ptr(int32(3))
		h.Spec.Metrics = []autoscalingv2.MetricSpec{cpuUtilizationMetric(50)}
	})
	Default(set)
	if *set.Spec.MinReplicas != 3 || *set.Spec.Metrics[0].Resource.Target.AverageUtilization != 50 || set.Spec.Behavior != nil {
		t.Fatalf("set values overridden: %+v", set.Spec)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		mut  func(*autoscalingv2.HorizontalPodAutoscaler)
		want []string
	}{
		{"valid", nil, nil},
		{"valid pods metric", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: "Pods", Pods: &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "qps"}, Target: autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: qty("10")}}}}
		}, nil},
		{"missing target kind", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Kind = "" },
			[]string{"FieldValueRequired spec.scaleTargetRef.kind"}},
		{"minReplicas zero", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr(int32(0)) },
			[]string{"FieldValueInvalid spec.minReplicas"}},
		{"max below min", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr(int32(6)) },
			[]string{"FieldValueInvalid spec.maxReplicas"}},
		{"maxReplicas zero", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 0 },
			[]string{"FieldValueInvalid spec.maxReplicas", "FieldValueInvalid spec.maxReplicas"}},
		{"utilization zero", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{cpuUtilizationMetric(0)}
		},
			[]string{"FieldValueInvalid spec.metrics[0].resource.target.averageUtilization"}},
		{"source missing", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: "External"}}
		},
			[]string{"FieldValueRequired spec.metrics[0].external"}},
		{"two sources", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			m := cpuUtilizationMetric(50)
			m.Pods = &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "q"}, Target: autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: qty("1")}}
			h.Spec.Metrics = []autoscalingv2.MetricSpec{m}
		}, []string{"FieldValueForbidden spec.metrics[0].pods"}},
		{"bad metric type", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: "Magic"}}
		},
			[]string{"FieldValueNotSupported spec.metrics[0].type"}},
		{"bad behavior", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{
				StabilizationWindowSeconds: ptr(int32(4000)),
				Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: "Pods", Value: 0, PeriodSeconds: 2000}},
			}}
		}, []string{"FieldValueInvalid spec.behavior.scaleUp.policies[0].periodSeconds", "FieldValueInvalid spec.behavior.scaleUp.policies[0].value",
			"FieldValueInvalid spec.behavior.scaleUp.stabilizationWindowSeconds"}},
		{"empty policies", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{}}}
		}, []string{"FieldValueRequired spec.behavior.scaleDown.policies"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := hpaV2(tc.mut)
			Default(h)
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), h), tc.want...)
		})
	}
}

func TestValidateV1(t *testing.T) {
	h := &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv1.CrossVersionObjectReference(ref), MaxReplicas: 3,
			TargetCPUUtilizationPercentage: ptr(int32(0))},
	}
	Strategy().Default(h)
	if *h.Spec.MinReplicas != 1 {
		t.Fatalf("v1 minReplicas default")
	}
	registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), h), "FieldValueInvalid spec.targetCPUUtilizationPercentage")
	h.Spec.TargetCPUUtilizationPercentage = ptr(int32(70))
	registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), h))
}

func fullV2() *autoscalingv2.HorizontalPodAutoscaler {
	now := metav1.NewTime(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"q": "orders"}}
	return hpaV2(func(h *autoscalingv2.HorizontalPodAutoscaler) {
		h.TypeMeta = metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"}
		h.Annotations = map[string]string{"team": "a"}
		h.Spec.MinReplicas = ptr(int32(2))
		h.Spec.Metrics = []autoscalingv2.MetricSpec{
			{Type: "Resource", Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory,
				Target: autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: qty("500Mi")}}},
			{Type: "Pods", Pods: &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "qps", Selector: sel},
				Target: autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: qty("10")}}},
			{Type: "Object", Object: &autoscalingv2.ObjectMetricSource{DescribedObject: autoscalingv2.CrossVersionObjectReference{Kind: "Service", Name: "s"},
				Metric: autoscalingv2.MetricIdentifier{Name: "rps"}, Target: autoscalingv2.MetricTarget{Type: "Value", Value: qty("2k")}}},
			{Type: "External", External: &autoscalingv2.ExternalMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "queue", Selector: sel},
				Target: autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: qty("30")}}},
			{Type: "ContainerResource", ContainerResource: &autoscalingv2.ContainerResourceMetricSource{Name: corev1.ResourceCPU, Container: "app",
				Target: autoscalingv2.MetricTarget{Type: "Utilization", AverageUtilization: ptr(int32(60))}}},
			cpuUtilizationMetric(75),
		}
		h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr(int32(120)), SelectPolicy: ptr(autoscalingv2.MinChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{{Type: "Pods", Value: 1, PeriodSeconds: 60}}}}
		h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
			ObservedGeneration: ptr(int64(3)), LastScaleTime: &now, CurrentReplicas: 2, DesiredReplicas: 3,
			CurrentMetrics: []autoscalingv2.MetricStatus{
				{Type: "Resource", Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU,
					Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr(int32(90)), AverageValue: qty("450m")}}},
				{Type: "External", External: &autoscalingv2.ExternalMetricStatus{Metric: autoscalingv2.MetricIdentifier{Name: "queue"},
					Current: autoscalingv2.MetricValueStatus{Value: qty("12")}}},
			},
			Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: "AbleToScale", Status: "True", LastTransitionTime: now, Reason: "ReadyForNewScale"}},
		}
	})
}

func TestV2ToV1(t *testing.T) {
	in := fullV2()
	before := in.DeepCopy()
	v1, err := FromV2(in)
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(in, before) {
		t.Fatalf("FromV2 modified its argument")
	}
	if v1.APIVersion != "autoscaling/v1" || *v1.Spec.TargetCPUUtilizationPercentage != 75 || *v1.Status.CurrentCPUUtilizationPercentage != 90 ||
		*v1.Spec.MinReplicas != 2 || v1.Spec.MaxReplicas != 5 || v1.Status.DesiredReplicas != 3 || v1.Annotations["team"] != "a" {
		t.Fatalf("v1 fields: %+v", v1)
	}
	for _, key := range []string{MetricSpecsAnnotation, MetricStatusesAnnotation, BehaviorSpecsAnnotation, ConditionsAnnotation} {
		if v1.Annotations[key] == "" {
			t.Fatalf("annotation %s missing: %v", key, v1.Annotations)
		}
	}
	if strings.Contains(v1.Annotations[MetricSpecsAnnotation], `"averageUtilization":75`) || strings.Contains(v1.Annotations[MetricSpecsAnnotation], `"targetAverageUtilization":75`) {
		t.Fatalf("CPU target duplicated in the metrics annotation: %s", v1.Annotations[MetricSpecsAnnotation])
	}
	if !strings.Contains(v1.Annotations[BehaviorSpecsAnnotation], `"ScaleDown":{"StabilizationWindowSeconds":120,"SelectPolicy":"Min"`) {
		t.Fatalf("behavior annotation not in upstream's shape: %s", v1.Annotations[BehaviorSpecsAnnotation])
	}
}

func TestRoundTrips(t *testing.T) {
	// v2 -> v1 -> v2 is exact when the CPU utilization metric comes last, where v1 puts it back.
	for name, in := range map[string]*autoscalingv2.HorizontalPodAutoscaler{
		"full": fullV2(),
		"cpu only": hpaV2(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.TypeMeta = fullV2().TypeMeta
			h.Spec.Metrics = []autoscalingv2.MetricSpec{cpuUtilizationMetric(50)}
		}),
	} {
		t.Run("v2 "+name, func(t *testing.T) {
			served, err := FromStorage(in)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ToStorage(served)
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(back, in) {
				t.Fatalf("round trip differs:\n got %+v\nwant %+v", back, in)
			}
		})
	}

	v1 := &autoscalingv1.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Annotations: map[string]string{"team": "a"}},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv1.CrossVersionObjectReference(ref),
			MinReplicas: ptr(int32(1)), MaxReplicas: 4, TargetCPUUtilizationPercentage: ptr(int32(65))},
		Status: autoscalingv1.HorizontalPodAutoscalerStatus{CurrentReplicas: 1, DesiredReplicas: 2, CurrentCPUUtilizationPercentage: ptr(int32(130))},
	}
	t.Run("v1", func(t *testing.T) {
		stored, err := ToV2(v1)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored.Spec.Metrics) != 1 || *stored.Spec.Metrics[0].Resource.Target.AverageUtilization != 65 ||
			*stored.Status.CurrentMetrics[0].Resource.Current.AverageUtilization != 130 {
			t.Fatalf("v2 form: %+v", stored)
		}
		back, err := FromV2(stored)
		if err != nil {
			t.Fatal(err)
		}
		// The current CPU status travels in the current-metrics annotation; everything else is as sent.
		delete(back.Annotations, MetricStatusesAnnotation)
		if !equality.Semantic.DeepEqual(back, v1) {
			t.Fatalf("round trip differs:\n got %+v\nwant %+v", back, v1)
		}
	})

	t.Run("v1 upstream annotations", func(t *testing.T) {
		in := v1.DeepCopy()
		in.Spec.TargetCPUUtilizationPercentage = nil
		in.Annotations[MetricSpecsAnnotation] = `[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"1Gi"}}]`
		in.Annotations[BehaviorSpecsAnnotation] = `{"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":[{"Type":"Pods","Value":4,"PeriodSeconds":15}]}}`
		out, err := ToV2(in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Spec.Metrics) != 1 || out.Spec.Metrics[0].Resource.Name != corev1.ResourceMemory ||
			out.Spec.Metrics[0].Resource.Target.Type != autoscalingv2.AverageValueMetricType ||
			out.Spec.Behavior == nil || out.Spec.Behavior.ScaleUp.Policies[0].Value != 4 {
			t.Fatalf("annotations not lifted: %+v", out.Spec)
		}
		if len(out.Annotations) != 1 {
			t.Fatalf("round-trip annotations kept on v2: %v", out.Annotations)
		}
		in.Annotations[MetricSpecsAnnotation] = "{broken"
		if _, err := ToV2(in); err == nil {
			t.Fatalf("broken annotation accepted")
		}
	})

	t.Run("v1 without target gets the default", func(t *testing.T) {
		in := v1.DeepCopy()
		in.Spec.TargetCPUUtilizationPercentage = nil
		out, err := ToV2(in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Spec.Metrics) != 1 || *out.Spec.Metrics[0].Resource.Target.AverageUtilization != DefaultCPUUtilization {
			t.Fatalf("metrics: %+v", out.Spec.Metrics)
		}
	})
}
