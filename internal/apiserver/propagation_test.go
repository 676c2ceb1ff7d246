package apiserver

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPropagationFinalizers(t *testing.T) {
	const orphan, fg = metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents
	pol := func(p metav1.DeletionPropagation) *metav1.DeleteOptions {
		return &metav1.DeleteOptions{PropagationPolicy: &p}
	}
	orph := func(b bool) *metav1.DeleteOptions { return &metav1.DeleteOptions{OrphanDependents: &b} }
	cases := []struct {
		name string
		have []string
		do   *metav1.DeleteOptions
		want []string
	}{
		{"no policy keeps what is there", []string{"x", fg}, &metav1.DeleteOptions{}, []string{"x", fg}},
		{"foreground", []string{"x"}, pol(metav1.DeletePropagationForeground), []string{"x", fg}},
		{"orphan replaces foreground", []string{fg, "x"}, pol(metav1.DeletePropagationOrphan), []string{"x", orphan}},
		{"background removes both", []string{orphan, "x", fg}, pol(metav1.DeletePropagationBackground), []string{"x"}},
		{"background on nothing", nil, pol(metav1.DeletePropagationBackground), nil},
		{"orphanDependents=true", []string{fg}, orph(true), []string{orphan}},
		{"orphanDependents=false removes orphan", []string{orphan, "x"}, orph(false), []string{"x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := propagationFinalizers(tc.have, tc.do); !slices.Equal(got, tc.want) {
				t.Errorf("finalizers = %v, want %v", got, tc.want)
			}
		})
	}
}
