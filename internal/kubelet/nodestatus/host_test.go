package nodestatus

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestParseMemInfo(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    memInfo
		wantErr bool
	}{
		{"full", "MemTotal:  1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\nSwapTotal: 2 kB\n",
			memInfo{Total: 1000 * 1024, Available: 600 * 1024, SwapTotal: 2048}, false},
		{"old kernel without MemAvailable falls back to MemFree", "MemTotal: 1000 kB\nMemFree: 100 kB\n",
			memInfo{Total: 1000 * 1024, Available: 100 * 1024}, false},
		{"unit-less counters are not scaled", "MemTotal: 10 kB\nMemAvailable: 5 kB\nHugePages_Total: 3\n",
			memInfo{Total: 10240, Available: 5120}, false},
		{"no total", "MemFree: 100 kB\n", memInfo{}, true},
		{"garbage value", "MemTotal: lots kB\n", memInfo{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMemInfo([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPrettyName(t *testing.T) {
	cases := map[string]string{
		"NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n": "Debian GNU/Linux 12 (bookworm)",
		"PRETTY_NAME='Alpine Linux v3.20'":                         "Alpine Linux v3.20",
		"PRETTY_NAME=Plain":                                        "Plain",
		`PRETTY_NAME="Quote \"inside\""`:                           `Quote "inside"`,
		"NAME=NoPretty":                                            "",
	}
	for in, want := range cases {
		if got := prettyName([]byte(in)); got != want {
			t.Errorf("prettyName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHostFacts(t *testing.T) {
	a := newHost("testdata/host-a")
	si := a.systemInfo()
	want := systemInfo{
		MachineID:     "3d1219c7c4c5404aaa1f6d2a48adfda4",
		SystemUUID:    "4c4c4544-0042-3510-8052-b4c04f4e4b32",
		BootID:        "2fe24db5-683d-43f4-a57d-012a029bc3e4",
		KernelVersion: "6.1.0-28-amd64",
		OSImage:       "Debian GNU/Linux 12 (bookworm)",
		SwapBytes:     2097148 * 1024,
	}
	if si != want {
		t.Errorf("host-a systemInfo = %+v, want %+v", si, want)
	}
	if got, want := a.hugePages(), map[int64]int64{2 << 20: 4 << 20, 1 << 30: 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("hugePages = %v, want %v", got, want)
	}
	p, err := a.pids()
	if err != nil || p != (pidStats{Max: 32768, Running: 31000}) {
		t.Errorf("pids = %+v, %v", p, err)
	}

	b := newHost("testdata/host-b")
	sib := b.systemInfo()
	if sib.OSImage != "Alpine Linux v3.20" || sib.SystemUUID != "" || sib.MachineID != "" || sib.KernelVersion != "5.10.0-test" {
		t.Errorf("host-b systemInfo = %+v", sib)
	}
	if hp := b.hugePages(); len(hp) != 0 {
		t.Errorf("host-b has no hugepages dir, got %v", hp)
	}
	if p, err := b.pids(); err != nil || p != (pidStats{Max: 64, Running: 62}) {
		t.Errorf("host-b pids = %+v, %v", p, err)
	}
	if _, err := newHost(t.TempDir()).memInfo(); err == nil {
		t.Error("memInfo of an empty root: want an error")
	}
}

func TestStatfsReal(t *testing.T) {
	dir := t.TempDir()
	st, err := statfsPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.CapacityBytes <= 0 || st.AvailableBytes < 0 || st.AvailableBytes > st.CapacityBytes {
		t.Errorf("implausible statfs of %s: %+v", dir, st)
	}
	if _, err := statfsPath(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("statfs of a missing path: %v, want not-exist", err)
	}
}
