package history

import (
	"context"
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func set() *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u1", Annotations: map[string]string{"kubernetes.io/change-cause": "v2"}},
		Spec: appsv1.StatefulSetSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](30),
				Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1"}}},
		}},
	}
}

// kubectl decides whether `rollout undo` changes anything by comparing a revision's bytes with
// its own encoding of the live object; the two must agree byte for byte.
func TestTemplatePatchMatchesKubectl(t *testing.T) {
	s := set()
	got, err := TemplatePatch(&s.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	str, err := runtime.Encode(unstructured.UnstructuredJSONScheme, s)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(str, &raw); err != nil {
		t.Fatal(err)
	}
	tmpl := raw["spec"].(map[string]any)["template"].(map[string]any)
	tmpl["$patch"] = "replace"
	want, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
	if string(got) != string(want) {
		t.Errorf("patch\n%s\nkubectl's\n%s", got, want)
	}
}

func TestHash(t *testing.T) {
	a, b := []byte(`{"a":1}`), []byte(`{"a":2}`)
	tests := []struct {
		name   string
		x, y   string
		differ bool
	}{
		{"stable", Hash(a, nil), Hash(a, nil), false},
		{"nil count is zero", Hash(a, nil), Hash(a, ptr.To[int32](0)), false},
		{"data", Hash(a, nil), Hash(b, nil), true},
		{"collision count", Hash(a, ptr.To[int32](1)), Hash(a, ptr.To[int32](2)), true},
	}
	for _, tc := range tests {
		if (tc.x != tc.y) != tc.differ {
			t.Errorf("%s: %q vs %q", tc.name, tc.x, tc.y)
		}
	}
}

func TestCreateHandlesCollisions(t *testing.T) {
	s := set()
	kind := appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	data, _ := TemplatePatch(&s.Spec.Template)
	rev := New(s, kind, s.Spec.Template.Labels, data, 1, ptr.To[int32](0))
	if rev.Annotations["kubernetes.io/change-cause"] != "v2" || rev.Labels["app"] != "web" || rev.Name != "web-"+Hash(data, ptr.To[int32](0)) {
		t.Fatalf("revision %+v", rev.ObjectMeta)
	}
	// Someone else's revision holds the name.
	squatter := rev.DeepCopy()
	squatter.Data.Raw = []byte(`{"other":true}`)
	squatter.OwnerReferences = nil
	client := fake.NewClientset(squatter)
	st := Store{Client: client, Lister: informers.NewSharedInformerFactory(client, 0).Apps().V1().ControllerRevisions().Lister()}
	got, count, err := st.Create(context.Background(), s, rev, ptr.To[int32](0))
	if err != nil {
		t.Fatal(err)
	}
	if count != 1 || got.Name == squatter.Name || got.Name != "web-"+Hash(data, ptr.To[int32](1)) {
		t.Errorf("after a collision: name %s count %d", got.Name, count)
	}
	// Creating the same again finds the equal revision and does not bump the count.
	again, count2, err := st.Create(context.Background(), s, rev, &count)
	if err != nil || again.Name != got.Name || count2 != 1 {
		t.Errorf("recreate: %v %s %d", err, again.Name, count2)
	}
}
