package rollout

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func TestValidateSurgeAndUnavailable(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	num := func(i int32) *intstr.IntOrString { v := intstr.FromInt32(i); return &v }
	cases := []struct {
		name           string
		surge, unavail *intstr.IntOrString
		surgeMax100    bool
		want           []string
	}{
		{"defaults", pct("25%"), pct("25%"), false, nil},
		{"ints", num(1), num(0), false, nil},
		{"both zero", num(0), pct("0%"), false, []string{"FieldValueInvalid ru.maxUnavailable"}},
		{"negative", num(-1), num(1), false, []string{"FieldValueInvalid ru.maxSurge"}},
		{"not a percent", pct("25"), num(1), false, []string{"FieldValueInvalid ru.maxSurge"}},
		{"unavailable over 100", num(1), pct("150%"), false, []string{"FieldValueInvalid ru.maxUnavailable"}},
		{"surge over 100 allowed", pct("200%"), num(1), false, nil},
		{"surge over 100 bounded", pct("200%"), num(1), true, []string{"FieldValueInvalid ru.maxSurge"}},
	}
	for _, tc := range cases {
		errs := ValidateSurgeAndUnavailable(tc.surge, tc.unavail, tc.surgeMax100, field.NewPath("ru"))
		if len(errs) != len(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, errs, tc.want)
			continue
		}
		for i, e := range errs {
			if got := string(e.Type) + " " + e.Field; got != tc.want[i] {
				t.Errorf("%s: got %q, want %q", tc.name, got, tc.want[i])
			}
		}
	}
}

func TestValidateMinReadyAndHistory(t *testing.T) {
	limit := func(n int32) *int32 { return &n }
	cases := []struct {
		name     string
		minReady int32
		history  *int32
		want     []string
	}{
		{"zeros", 0, limit(0), nil},
		{"unset history", 5, nil, nil},
		{"negative min ready", -1, limit(10), []string{"FieldValueInvalid spec.minReadySeconds"}},
		{"negative history", 0, limit(-1), []string{"FieldValueInvalid spec.revisionHistoryLimit"}},
		{"both negative", -1, limit(-1), []string{"FieldValueInvalid spec.minReadySeconds", "FieldValueInvalid spec.revisionHistoryLimit"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registrytest.ExpectErrors(t, ValidateMinReadyAndHistory(tc.minReady, tc.history, field.NewPath("spec")), tc.want...)
		})
	}
}
