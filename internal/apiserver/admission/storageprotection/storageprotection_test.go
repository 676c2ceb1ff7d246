package storageprotection

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
)

func TestAdmit(t *testing.T) {
	cases := []struct {
		name string
		op   admission.Operation
		obj  runtime.Object
		want []string
	}{
		{"pvc", admission.Create, &corev1.PersistentVolumeClaim{}, []string{PVCFinalizer}},
		{"pvc already protected", admission.Create, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Finalizers: []string{PVCFinalizer}}}, []string{PVCFinalizer}},
		{"pvc with other finalizer", admission.Create, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Finalizers: []string{"x/y"}}}, []string{"x/y", PVCFinalizer}},
		{"pv", admission.Create, &corev1.PersistentVolume{}, []string{PVFinalizer}},
		{"pvc update untouched", admission.Update, &corev1.PersistentVolumeClaim{}, nil},
		{"configmap untouched", admission.Create, &corev1.ConfigMap{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := New().Admit(context.Background(), &admission.Attributes{Operation: tc.op, Object: tc.obj}); err != nil {
				t.Fatal(err)
			}
			got := tc.obj.(metav1.Object).GetFinalizers()
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("finalizers = %v, want %v", got, tc.want)
			}
		})
	}
}
