package controllermanager

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEnabled(t *testing.T) {
	// The expectations follow the table, so adding a controller changes no line here.
	var names []string
	for _, d := range Controllers {
		names = append(names, d.Name)
	}
	all := strings.Join(names, ",")
	allButDeployment := strings.Join(slices.DeleteFunc(names, func(n string) bool { return n == "deployment" }), ",")
	tests := []struct {
		sel     []string
		want    string
		wantErr bool
	}{
		{nil, all, false},
		{[]string{"*"}, all, false},
		{[]string{"*", "-deployment"}, allButDeployment, false},
		{[]string{"deployment"}, "deployment", false},
		{[]string{"-replicaset"}, "", false},
		{[]string{"*", "nosuch"}, "", true},
		{[]string{"-nosuch"}, "", true},
	}
	for _, tt := range tests {
		got, err := Enabled(tt.sel)
		if (err != nil) != tt.wantErr {
			t.Fatalf("%v: err %v", tt.sel, err)
		}
		var names []string
		for _, d := range got {
			names = append(names, d.Name)
		}
		if strings.Join(names, ",") != tt.want {
			t.Errorf("%v: enabled %v, want %s", tt.sel, names, tt.want)
		}
	}
}

func TestCheckNodeMonitor(t *testing.T) {
	for _, tc := range []struct {
		grace, period time.Duration
		wantErr       string
	}{
		{0, 0, ""},
		{4 * time.Second, 500 * time.Millisecond, ""},
		{10 * time.Second, 0, ""},
		{4 * time.Second, 0, "must be shorter"}, // the default period is 5 s
		{0, 40 * time.Second, "must be shorter"},
		{-time.Second, 0, "must not be negative"},
		{0, -time.Second, "must not be negative"},
	} {
		err := CheckNodeMonitor(tc.grace, tc.period)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("grace %v period %v: err %v, want %q", tc.grace, tc.period, err, tc.wantErr)
		}
	}
}
