package libcontainer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"

	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/libcontainer/initseccomp"
	"github.com/skiff-dev/skiff/internal/runtime/runtimetest"
)

// TestInitSeccompPrecompiled: a container's init loads the program the agent compiled (the file
// is really used: a program planted under the profile's key is what the kernel then holds), and
// that program decides every system call as the one libcontainer's init compiles itself (no
// file, or a file for another profile), at both of libcontainer's points (before dropping
// capabilities; with no_new_privs, just before execve).
func TestInitSeccompPrecompiled(t *testing.T) {
	if !seccomp.Enabled {
		t.Skip("built without the seccomp tag: no profile is applied")
	}
	if goruntime.GOARCH != "amd64" {
		t.Skip("libcontainer's init compiles the profile itself on this architecture")
	}
	h := newHarness(t)
	r := h.new(t, t.TempDir()).(*Runtime)
	sb := h.pod(t, r, runtime.SandboxConfig{Name: "initfilter"})
	ctx := context.Background()
	// Another profile's program: with CAP_SYS_ADMIN, mount(2) is allowed.
	otherCfg, err := specconv.SetupSeccomp(defaultSeccomp([]string{"CAP_SYS_ADMIN"}))
	if err != nil {
		t.Fatal(err)
	}
	other, err := r.seccompProgram(otherCfg)
	if err != nil {
		t.Fatal(err)
	}
	// start starts a container the way StartContainer does, with file deciding what the init
	// finds in the container's directory.
	start := func(name string, sec runtime.Security, file func(dir string, cfg *configs.Seccomp)) int {
		t.Helper()
		id, err := r.CreateContainer(ctx, sb, &runtime.ContainerConfig{Name: name, Image: runtimetest.BusyboxImage,
			Command: []string{"sleep", "60"}, Security: sec})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := r.getContainer(id)
		s, _ := r.getSandbox(sb)
		config, err := r.containerConfig(c, s)
		if err != nil {
			t.Fatal(err)
		}
		if config.Seccomp == nil {
			t.Fatal("no seccomp profile in the container's configuration")
		}
		file(c.proc.dir, config.Seccomp)
		c.mu.Lock()
		err = r.runContainer(c, config)
		c.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		st, _ := r.ContainerStatus(ctx, id)
		return st.Pid
	}
	write := func(prog *initseccomp.Program, key func(*configs.Seccomp) [32]byte) func(string, *configs.Seccomp) {
		return func(dir string, cfg *configs.Seccomp) {
			p := *prog
			p.Key = key(cfg)
			if err := initseccomp.Write(dir, &p); err != nil {
				t.Fatal(err)
			}
		}
	}
	keyOf := func(cfg *configs.Seccomp) [32]byte {
		k, err := initseccomp.Key(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	own := func(dir string, cfg *configs.Seccomp) {
		p, err := r.seccompProgram(cfg)
		if err != nil {
			t.Fatal(err)
		}
		write(p, keyOf)(dir, cfg)
	}
	wrongKey := func(dir string, cfg *configs.Seccomp) {
		write(other, func(*configs.Seccomp) [32]byte { return other.Key })(dir, cfg)
	}
	filterOf := func(pid int) []byte {
		t.Helper()
		progs := seccompFilters(t, pid)
		if len(progs) != 1 {
			t.Fatalf("pid %d holds %d filters, want 1", pid, len(progs))
		}
		return progs[0]
	}

	for _, sec := range []runtime.Security{{}, {NoNewPrivileges: true, CapDrop: []string{"ALL"}}} {
		nnp := sec.NoNewPrivileges
		ref := filterOf(start(fmt.Sprint("lc", nnp), sec, func(string, *configs.Seccomp) {}))
		for _, tc := range []struct {
			name  string
			file  func(string, *configs.Seccomp)
			equal []byte // the filter it must decide as
		}{
			{"precompiled", own, ref},
			{"another profile's file", wrongKey, ref},
			{"planted under the key", write(other, keyOf), other.Filter},
		} {
			got := filterOf(start(fmt.Sprint(tc.name, nnp), sec, tc.file))
			if diff := sameVerdicts(t, tc.equal, got); diff != "" {
				t.Errorf("nnp=%v, %s: the init's filter decides otherwise than expected: %s", nnp, tc.name, diff)
			}
		}
		if diff := sameVerdicts(t, ref, other.Filter); diff == "" {
			t.Fatalf("nnp=%v: the planted program decides as the container's own: the test proves nothing", nnp)
		}
	}

	// StartContainer leaves the program for the init.
	id := run(t, r, sb, &runtime.ContainerConfig{Name: "started", Command: []string{"sleep", "60"}})
	c, _ := r.getContainer(id)
	if _, err := os.Stat(filepath.Join(c.proc.dir, initseccomp.FileName)); err != nil {
		t.Errorf("StartContainer wrote no program for the init: %v", err)
	}
}
