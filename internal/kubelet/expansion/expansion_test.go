package expansion

import (
	"slices"
	"testing"
)

func TestExpand(t *testing.T) {
	m := MapOf(map[string]string{
		"VAR_A":     "A",
		"VAR_B":     "B",
		"VAR_C":     "C",
		"VAR_REF":   "$(VAR_A)",
		"VAR_EMPTY": "",
	}, map[string]string{"SVC": "svc", "VAR_A": "shadowed"})
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(VAR_A)", "A"},
		{"___$(VAR_A)___", "___A___"},
		{"$(VAR_A)$(VAR_B)$(VAR_C)", "ABC"},
		{"$(VAR_A)-$(SVC)", "A-svc"},
		{"$(VAR_REF)", "$(VAR_A)"}, // values are not re-expanded
		{"$(VAR_EMPTY)x", "x"},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$(UNKNOWN)$(VAR_A)", "$(UNKNOWN)A"},
		{"$$(VAR_A)", "$(VAR_A)"},
		{"$$$(VAR_A)", "$A"},
		{"$$$$(VAR_A)", "$$(VAR_A)"},
		{"$$", "$"},
		{"$", "$"},
		{"x$", "x$"},
		{"$x", "$x"},
		{"$x$(VAR_A)", "$xA"},
		{"$(", "$("},
		{"$(VAR_A", "$(VAR_A"},
		{"$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"},
		{"$(VAR_A $(VAR_B)", "$(VAR_A $(VAR_B)"},
		{"$( $(VAR_B)", "$( $(VAR_B)"},
		{"$(()", "$(()"},
		{"$()", "$()"},
		{"($(VAR_A))", "(A)"},
		{"$(VAR_A)$", "A$"},
		{"ünï$(VAR_B)çødé", "ünïBçødé"},
	}
	for _, tt := range tests {
		if got := Expand(tt.in, m); got != tt.want {
			t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStrings(t *testing.T) {
	m := MapOf(map[string]string{"X": "1"})
	if got := Strings(nil, m); got != nil {
		t.Fatalf("nil in: got %v", got)
	}
	got := Strings([]string{"a$(X)", "$$(X)"}, m)
	if want := []string{"a1", "$(X)"}; !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}
