package registrytest

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Summary renders each error as "<type> <path>" (e.g. "FieldValueRequired spec.ports"), sorted, so a
// table can state the expected errors without depending on message wording or order.
func Summary(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	slices.Sort(out)
	return out
}

// ExpectErrors fails t unless errs has exactly the wanted "<type> <path>" entries (in any order).
func ExpectErrors(t *testing.T, errs field.ErrorList, want ...string) {
	t.Helper()
	got := Summary(errs)
	w := slices.Clone(want)
	slices.Sort(w)
	if !slices.Equal(got, w) {
		t.Fatalf("errors: got %v, want %v\nfull: %v", got, w, errs.ToAggregate())
	}
}
