package gcpacer

import "testing"

func TestLimit(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name        string
		live, floor int64
		want        int64
	}{
		{"small heap: the floor", 100 * mib, 512 * mib, 512 * mib},
		{"half the floor: still the floor", 256 * mib, 512 * mib, 512 * mib},
		{"large heap: twice the live heap", 1024 * mib, 512 * mib, 2048 * mib},
		{"nothing live", 0, 512 * mib, 512 * mib},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Limit(tc.live, tc.floor); got != tc.want {
				t.Fatalf("Limit(%d MiB, %d MiB) = %d MiB, want %d MiB", tc.live/mib, tc.floor/mib, got/mib, tc.want/mib)
			}
		})
	}
}
