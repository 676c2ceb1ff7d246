package controllermanager

import (
	"strings"
	"testing"
)

func TestEnabled(t *testing.T) {
	tests := []struct {
		sel     []string
		want    string
		wantErr bool
	}{
		{nil, "replicaset,deployment", false},
		{[]string{"*"}, "replicaset,deployment", false},
		{[]string{"*", "-deployment"}, "replicaset", false},
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
