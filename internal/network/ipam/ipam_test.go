package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func mustNew(t *testing.T, dir, cidr string) *Allocator {
	t.Helper()
	a, err := New(dir, netip.MustParsePrefix(cidr))
	if err != nil {
		t.Fatalf("New(%s): %v", cidr, err)
	}
	return a
}

func TestNewValidatesPrefix(t *testing.T) {
	tests := []struct {
		cidr    string
		wantErr bool
		gateway string
		first   string
		last    string
	}{
		{cidr: "10.244.1.0/24", gateway: "10.244.1.1", first: "10.244.1.2", last: "10.244.1.254"},
		{cidr: "10.244.1.77/24", gateway: "10.244.1.1", first: "10.244.1.2", last: "10.244.1.254"},
		{cidr: "10.0.0.0/30", gateway: "10.0.0.1", first: "10.0.0.2", last: "10.0.0.2"},
		{cidr: "10.244.0.0/16", gateway: "10.244.0.1", first: "10.244.0.2", last: "10.244.255.254"},
		{cidr: "10.0.0.0/31", wantErr: true},
		{cidr: "10.0.0.0/32", wantErr: true},
		{cidr: "fd00::/64", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.cidr, func(t *testing.T) {
			a, err := New(t.TempDir(), netip.MustParsePrefix(tt.cidr))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("New(%s) succeeded, want error", tt.cidr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%s): %v", tt.cidr, err)
			}
			if got := a.Gateway().String(); got != tt.gateway {
				t.Errorf("gateway = %s, want %s", got, tt.gateway)
			}
			if a.first.String() != tt.first || a.last.String() != tt.last {
				t.Errorf("range = %s-%s, want %s-%s", a.first, a.last, tt.first, tt.last)
			}
		})
	}
}

func TestAllocateReservesAndExhausts(t *testing.T) {
	// A /29 holds .0 network, .1 gateway, .7 broadcast and five pod addresses.
	a := mustNew(t, t.TempDir(), "10.9.0.0/29")
	want := []string{"10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"}
	for i, w := range want {
		ip, err := a.Allocate(fmt.Sprintf("pod-%d", i))
		if err != nil {
			t.Fatalf("Allocate #%d: %v", i, err)
		}
		if ip.String() != w {
			t.Errorf("Allocate #%d = %s, want %s", i, ip, w)
		}
	}
	if ip, err := a.Allocate("one-too-many"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Allocate on a full range = %s, %v; want ErrExhausted", ip, err)
	}
	// A full range still answers an owner that already holds an address.
	if ip, err := a.Allocate("pod-3"); err != nil || ip.String() != "10.9.0.5" {
		t.Fatalf("Allocate(pod-3) again = %s, %v; want 10.9.0.5", ip, err)
	}
}

func TestAllocateIsIdempotentPerOwner(t *testing.T) {
	a := mustNew(t, t.TempDir(), "10.9.0.0/24")
	first, err := a.Allocate("pod-a")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again, err := a.Allocate("pod-a")
		if err != nil || again != first {
			t.Fatalf("Allocate(pod-a) again = %s, %v; want %s", again, err, first)
		}
	}
	if all, _ := a.List(); len(all) != 1 {
		t.Fatalf("List = %v, want one allocation", all)
	}
}

func TestReleaseAndRoundRobinReuse(t *testing.T) {
	a := mustNew(t, t.TempDir(), "10.9.0.0/29")
	steps := []struct {
		op    string // "alloc" or "release"
		owner string
		want  string // address for alloc
	}{
		{"alloc", "a", "10.9.0.2"},
		{"alloc", "b", "10.9.0.3"},
		{"alloc", "c", "10.9.0.4"},
		{"release", "b", ""},
		// Round robin: the next scan starts after the last handed out, not at the hole.
		{"alloc", "d", "10.9.0.5"},
		{"alloc", "e", "10.9.0.6"},
		// Only the released address is left, and it comes back.
		{"alloc", "f", "10.9.0.3"},
		{"release", "a", ""},
		{"release", "a", ""}, // releasing twice is fine
		{"alloc", "g", "10.9.0.2"},
	}
	for i, s := range steps {
		switch s.op {
		case "alloc":
			ip, err := a.Allocate(s.owner)
			if err != nil || ip.String() != s.want {
				t.Fatalf("step %d: Allocate(%s) = %s, %v; want %s", i, s.owner, ip, err, s.want)
			}
		case "release":
			if err := a.Release(s.owner); err != nil {
				t.Fatalf("step %d: Release(%s): %v", i, s.owner, err)
			}
			if _, ok, _ := a.Lookup(s.owner); ok {
				t.Fatalf("step %d: %s still holds an address after Release", i, s.owner)
			}
		}
	}
}

func TestPersistenceAcrossInstances(t *testing.T) {
	dir := t.TempDir()
	a := mustNew(t, dir, "10.9.0.0/24")
	held := map[string]netip.Addr{}
	for _, o := range []string{"a", "b", "c"} {
		ip, err := a.Allocate(o)
		if err != nil {
			t.Fatal(err)
		}
		held[o] = ip
	}
	if err := a.Release("b"); err != nil {
		t.Fatal(err)
	}
	delete(held, "b")

	// A restarted agent: a new allocator on the same directory.
	b := mustNew(t, dir, "10.9.0.0/24")
	for o, ip := range held {
		got, ok, err := b.Lookup(o)
		if err != nil || !ok || got != ip {
			t.Errorf("after restart Lookup(%s) = %s, %v, %v; want %s", o, got, ok, err, ip)
		}
	}
	for i := range 20 {
		ip, err := b.Allocate(fmt.Sprintf("new-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		for o, h := range held {
			if ip == h {
				t.Fatalf("after restart handed out %s, still held by %s", ip, o)
			}
		}
	}
	all, err := b.List()
	if err != nil || len(all) != 22 {
		t.Fatalf("List = %d allocations, %v; want 22", len(all), err)
	}
}

func TestListKeepsAllocationsOfAnOldRange(t *testing.T) {
	dir := t.TempDir()
	old := mustNew(t, dir, "10.1.0.0/24")
	oldIP, err := old.Allocate("gone")
	if err != nil {
		t.Fatal(err)
	}
	// The node's pod CIDR changed: the old allocation shows in List so the caller can collect it.
	cur := mustNew(t, dir, "10.2.0.0/24")
	if _, ok, _ := cur.Lookup("gone"); ok {
		t.Fatal("Lookup found an address outside the current range")
	}
	all, err := cur.List()
	if err != nil || len(all) != 1 || all[0].IP != oldIP || all[0].Owner != "gone" {
		t.Fatalf("List = %v, %v; want [%s gone]", all, err, oldIP)
	}
	if err := cur.Release("gone"); err != nil {
		t.Fatal(err)
	}
	if all, _ := cur.List(); len(all) != 0 {
		t.Fatalf("List after Release = %v, want empty", all)
	}
}

func TestInvalidOwners(t *testing.T) {
	a := mustNew(t, t.TempDir(), "10.9.0.0/24")
	for _, o := range []string{"", " lead", "trail ", "two\nlines", "nul\x00"} {
		if _, err := a.Allocate(o); err == nil {
			t.Errorf("Allocate(%q) succeeded, want error", o)
		}
	}
}

func TestIgnoresForeignFilesAndSurvivesReset(t *testing.T) {
	dir := t.TempDir()
	a := mustNew(t, dir, "10.9.0.0/24")
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Allocate("a"); err != nil {
		t.Fatal(err)
	}
	if all, _ := a.List(); len(all) != 1 {
		t.Fatalf("List = %v, want only the allocation", all)
	}
	if err := a.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Reset left %s behind: %v", dir, err)
	}
	if ip, err := a.Allocate("b"); err != nil || ip.String() != "10.9.0.2" {
		t.Fatalf("Allocate after Reset = %s, %v; want 10.9.0.2", ip, err)
	}
}

// Two allocators on one directory stand for two processes: the flock keeps their claims apart.
func TestConcurrentAllocatorsNeverShareAnAddress(t *testing.T) {
	dir := t.TempDir()
	allocs := []*Allocator{mustNew(t, dir, "10.9.0.0/25"), mustNew(t, dir, "10.9.0.0/25")}
	var mu sync.Mutex
	got := map[netip.Addr]string{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				owner := fmt.Sprintf("w%d-%d", w, i)
				ip, err := allocs[w%2].Allocate(owner)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if prev, dup := got[ip]; dup {
					t.Errorf("%s handed to both %s and %s", ip, prev, owner)
				}
				got[ip] = owner
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(got) != 100 {
		t.Fatalf("%d distinct addresses, want 100", len(got))
	}
}
