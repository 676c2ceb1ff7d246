package scheme

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Delete options arrive in whichever group the client picked; all must decode.
func TestDecodeDeleteOptions(t *testing.T) {
	def := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
	for _, body := range []string{
		`{"propagationPolicy":"Background"}`,
		`{"kind":"DeleteOptions","apiVersion":"meta.k8s.io/v1","propagationPolicy":"Background"}`,
		`{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}`,
		`{"kind":"DeleteOptions","apiVersion":"apps/v1","propagationPolicy":"Background"}`,
	} {
		obj, _, err := JSON.Decode([]byte(body), &def, &metav1.DeleteOptions{})
		if err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		o, ok := obj.(*metav1.DeleteOptions)
		if !ok || o.PropagationPolicy == nil || *o.PropagationPolicy != metav1.DeletePropagationBackground {
			t.Errorf("%s: got %#v", body, obj)
		}
	}
}
