package libcontainer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/opencontainers/runc/libcontainer/seccomp"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/libcontainer/shim"
)

func TestExecEnv(t *testing.T) {
	home := func() string { return "/home/u" }
	for _, tc := range []struct {
		name    string
		env     []string
		want    []string
		wantErr bool
	}{
		{"home added", []string{"PATH=/bin", "A=1"}, []string{"PATH=/bin", "A=1", "HOME=/home/u"}, false},
		{"home kept", []string{"HOME=/root", "A=1"}, []string{"HOME=/root", "A=1"}, false},
		{"empty home replaced", []string{"HOME=", "A=1"}, []string{"A=1", "HOME=/home/u"}, false},
		{"last wins, in its place", []string{"A=1", "B=2", "A=3"}, []string{"B=2", "A=3", "HOME=/home/u"}, false},
		{"empty value kept", []string{"A="}, []string{"A=", "HOME=/home/u"}, false},
		{"no equals", []string{"A"}, nil, true},
		{"empty name", []string{"=x"}, nil, true},
		{"NUL", []string{"A=x\x00y"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := execEnv(tc.env, home)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPasswdHome(t *testing.T) {
	const passwd = "root:x:0:0:root:/root:/bin/sh\nbroken\nwww:x:33:33::/var/www:/bin/false\nagain:x:33:33::/elsewhere:/bin/sh\n"
	for _, tc := range []struct {
		uid  int
		want string
	}{{0, "/root"}, {33, "/var/www"}, {1000, "/"}} {
		if got := passwdHome(strings.NewReader(passwd), tc.uid); got != tc.want {
			t.Errorf("uid %d: %q, want %q", tc.uid, got, tc.want)
		}
	}
}

func TestCapMask(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  uint64
	}{
		{nil, 0},
		{[]string{"CAP_CHOWN"}, 1},
		{[]string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"}, 1 | 1<<10 | 1<<21},
		{[]string{"CAP_NO_SUCH_THING", "CAP_KILL"}, 1 << 5},
	} {
		if got := capMask(tc.names); got != tc.want {
			t.Errorf("%v: %#x, want %#x", tc.names, got, tc.want)
		}
	}
}

// probeScript prints what an exec'd process got: credentials, capabilities, no_new_privs,
// seccomp, limits, OOM score, cgroups, namespaces, session, cwd, environment and descriptors.
const probeScript = `grep -E '^(Uid|Gid|Groups|Cap|NoNewPrivs|Seccomp|Speculation)' /proc/$$/status
cat /proc/$$/limits /proc/$$/oom_score_adj /proc/$$/cgroup
for n in cgroup ipc mnt net pid uts user; do readlink /proc/$$/ns/$n; done
set -- $(cat /proc/$$/stat); [ "$6" = "$$" ] && echo session-leader
pwd; env | sort; ls /proc/$$/fd; umask`

// TestExecMatchesLibcontainer: an exec through the shim gets what one through libcontainer gets,
// over the settings a pod can ask for.
func TestExecMatchesLibcontainer(t *testing.T) {
	h := newHarness(t)
	r := h.new(t, t.TempDir()).(*Runtime)
	sb := h.pod(t, r, runtime.SandboxConfig{Name: "same"})
	for _, tc := range []struct {
		name string
		cfg  runtime.ContainerConfig
		want []string // in the shim exec's output
	}{
		{"defaults", runtime.ContainerConfig{}, []string{"CapBnd:\t00000000a80425fb", "Uid:\t0\t0\t0\t0", "HOME=/root"}},
		{"user, groups, caps, nnp, cwd, env, oom", runtime.ContainerConfig{
			User:       &runtime.User{UID: 1000, GID: 1001, AdditionalGIDs: []uint32{5, 7}},
			Security:   runtime.Security{NoNewPrivileges: true, CapDrop: []string{"ALL"}, CapAdd: []string{"NET_BIND_SERVICE", "KILL"}},
			Resources:  runtime.Resources{OOMScoreAdj: 500, PidsLimit: 40},
			WorkingDir: "/tmp", Env: []string{"GREETING=hi", "HOME="},
		}, []string{"Uid:\t1000\t1000\t1000\t1000", "Gid:\t1001\t1001\t1001\t1001", "Groups:\t5 7", "CapBnd:\t0000000000000420",
			"NoNewPrivs:\t1", "GREETING=hi", "HOME=/", "\n500\n", "/tmp\n"}},
		{"privileged", runtime.ContainerConfig{Security: runtime.Security{Privileged: true}}, []string{"Seccomp:\t0"}},
		{"unconfined", runtime.ContainerConfig{Security: runtime.Security{SeccompUnconfined: true}}, []string{"Seccomp:\t0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.Security.Privileged {
				skipWithoutAllCaps(t)
			}
			cfg := tc.cfg
			cfg.Name, cfg.Command = strings.ReplaceAll(tc.name, ",", ""), []string{"sleep", "60"}
			cfg.Name = strings.ReplaceAll(cfg.Name, " ", "-")
			id := run(t, r, sb, &cfg)
			cmd := []string{"sh", "-c", probeScript}
			fast := execOut(t, r, id, cmd...)
			c, _ := r.getContainer(id)
			if c.xp == nil || c.xp.why != "" {
				t.Fatalf("the exec did not go through the shim: %+v", c.xp)
			}
			var out, errb bytes.Buffer
			code, err := r.execLibcontainer(context.Background(), &c.rec, &runtime.ExecRequest{Cmd: cmd, Stdout: &out, Stderr: &errb})
			if err != nil || code != 0 {
				t.Fatalf("through libcontainer: %d %v %s", code, err, errb.String())
			}
			if slow := strings.TrimSpace(out.String()); fast != slow {
				t.Errorf("the shim's exec differs from libcontainer's:\n%s", lineDiff(slow, fast))
			}
			for _, w := range tc.want {
				if !strings.Contains(fast, w) {
					t.Errorf("no %q in:\n%s", w, fast)
				}
			}
			if seccomp.Enabled && !tc.cfg.Security.Privileged && !tc.cfg.Security.SeccompUnconfined && !strings.Contains(fast, "Seccomp:\t2") {
				t.Errorf("no seccomp filter:\n%s", fast)
			}
		})
	}
}

// skipWithoutAllCaps skips on a host whose root lacks capabilities (a sandboxed VM): a privileged
// container cannot start there.
func skipWithoutAllCaps(t *testing.T) {
	var bnd uint64
	fmt.Sscanf(strings.TrimPrefix(statusLine(t, os.Getpid(), "CapBnd:"), "CapBnd:"), "%x", &bnd)
	if want := capMask(allCaps()); bnd&want != want {
		t.Skipf("the host's bounding set %#x lacks capabilities (%#x): no privileged container here", bnd, want&^bnd)
	}
}

func lineDiff(want, got string) string {
	var b strings.Builder
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "libcontainer %q\nshim         %q\n", a, c)
		}
	}
	return b.String()
}

// TestExecSeccomp: the default profile denies unshare(2) (without CAP_SYS_ADMIN) to the
// container's main process and to its execs; Unconfined and privileged containers may.
func TestExecSeccomp(t *testing.T) {
	if !seccomp.Enabled {
		t.Skip("built without the seccomp tag: no profile is applied")
	}
	h := newHarness(t)
	r := h.new(t, t.TempDir()).(*Runtime)
	sb := h.pod(t, r, runtime.SandboxConfig{Name: "seccomp"})
	try := "unshare -U true 2>/dev/null; echo $?"
	for _, tc := range []struct {
		name   string
		sec    runtime.Security
		denied bool
	}{
		{"default", runtime.Security{}, true},
		{"unconfined", runtime.Security{SeccompUnconfined: true}, false},
		{"privileged", runtime.Security{Privileged: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.sec.Privileged {
				skipWithoutAllCaps(t)
			}
			vol := t.TempDir()
			id := run(t, r, sb, &runtime.ContainerConfig{Name: tc.name, Security: tc.sec,
				Command: []string{"sh", "-c", try + " > /data/main; sleep 60"},
				Mounts:  []runtime.Mount{{HostPath: vol, ContainerPath: "/data"}}})
			want := "0"
			if tc.denied {
				want = "1"
			}
			var main []byte
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if main, _ = os.ReadFile(filepath.Join(vol, "main")); len(main) > 0 {
					break
				}
			}
			if got := strings.TrimSpace(string(main)); got != want {
				t.Errorf("unshare as the main process: %q, want %q", got, want)
			}
			if got := execOut(t, r, id, "sh", "-c", try); got != want {
				t.Errorf("unshare in an exec: %q, want %q", got, want)
			}
			if tc.denied {
				res, err := r.ExecSync(context.Background(), id, []string{"unshare", "-U", "true"}, 5*time.Second)
				if err != nil || !strings.Contains(string(res.Stderr), "Operation not permitted") {
					t.Errorf("unshare's complaint: %q %v", res.Stderr, err)
				}
			}
		})
	}
}

// TestExecSeccompSameFilter reads, through ptrace, the filter the kernel holds for the
// container's init (loaded by libcontainer) and for a process the shim exec'd, and runs both on
// every system call number of the three architectures with telling arguments: the same verdicts.
// (Not the same bytes: libcontainer orders its -ENOSYS stub by a map's iteration, so two of its
// own containers differ there too.)
func TestExecSeccompSameFilter(t *testing.T) {
	if !seccomp.Enabled {
		t.Skip("built without the seccomp tag: no profile is applied")
	}
	h := newHarness(t)
	r := h.new(t, t.TempDir()).(*Runtime)
	sb := h.pod(t, r, runtime.SandboxConfig{Name: "filter"})
	var inits [][]byte
	for _, sec := range []runtime.Security{{}, {NoNewPrivileges: true, CapDrop: []string{"ALL"}}} {
		id := run(t, r, sb, &runtime.ContainerConfig{Name: fmt.Sprint("c", sec.NoNewPrivileges), Command: []string{"sleep", "60"}, Security: sec})
		st, _ := r.ContainerStatus(context.Background(), id)
		initProg := seccompFilters(t, st.Pid)

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		arg := fmt.Sprint(3000 + time.Now().UnixNano()%1000)
		go func() {
			_, err := r.Exec(ctx, id, &runtime.ExecRequest{Cmd: []string{"sleep", arg}})
			done <- err
		}()
		pid := waitProcess(t, "sleep\x00"+arg+"\x00")
		execProg := seccompFilters(t, pid)
		var status [3][2]string
		for i, l := range []string{"Seccomp:", "Speculation_Store_Bypass:", "NoNewPrivs:"} {
			status[i] = [2]string{statusLine(t, st.Pid, l), statusLine(t, pid, l)}
		}
		cancel()
		<-done
		if os.Getenv("DUMP") != "" && len(initProg) > 0 && len(execProg) > 0 {
			os.WriteFile("/tmp/x/init.bpf", initProg[0], 0o644)
			os.WriteFile("/tmp/x/exec.bpf", execProg[0], 0o644)
		}
		if len(initProg) != 1 || len(execProg) != 1 {
			t.Fatalf("filters: init %d, exec %d; want one each", len(initProg), len(execProg))
		}
		inits = append(inits, initProg[0])
		if diff := sameVerdicts(t, initProg[0], execProg[0]); diff != "" {
			t.Errorf("nnp=%v: the exec's filter (%d bytes) decides otherwise than the init's (%d bytes): %s",
				sec.NoNewPrivileges, len(execProg[0]), len(initProg[0]), diff)
		}
		for _, s := range status {
			if s[0] != s[1] {
				t.Errorf("init %q, exec %q", s[0], s[1])
			}
		}
	}
	// The comparison tells profiles apart: without CAP_SYS_CHROOT, chroot(2) is denied.
	if diff := sameVerdicts(t, inits[0], inits[1]); diff == "" {
		t.Errorf("the profiles of containers with and without capabilities decide alike")
	} else {
		t.Logf("the two profiles differ as expected: %s", diff)
	}
}

// sameVerdicts runs two seccomp programs over the same inputs and describes the first input
// they disagree on ("" when none).
func sameVerdicts(t *testing.T, a, b []byte) string {
	vm := func(p []byte) *bpf.VM {
		raw := make([]bpf.RawInstruction, len(p)/8)
		for i := range raw {
			raw[i] = bpf.RawInstruction{Op: binary.LittleEndian.Uint16(p[i*8:]), Jt: p[i*8+2], Jf: p[i*8+3], K: binary.LittleEndian.Uint32(p[i*8+4:])}
		}
		insns, ok := bpf.Disassemble(raw)
		if !ok {
			t.Fatal("undecodable seccomp program")
		}
		v, err := bpf.NewVM(insns)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	va, vb := vm(a), vm(b)
	// struct seccomp_data is in host (little) order, and the VM loads words big-endian: each
	// 32-bit word is written big-endian at its little-endian place.
	payload := func(nr, arch uint32, arg0 uint64) []byte {
		d := make([]byte, 64)
		binary.BigEndian.PutUint32(d[0:], nr)
		binary.BigEndian.PutUint32(d[4:], arch)
		binary.BigEndian.PutUint32(d[16:], uint32(arg0))
		binary.BigEndian.PutUint32(d[20:], uint32(arg0>>32))
		return d
	}
	const x86_64, i386, aarch64 = 0xc000003e, 0x40000003, 0xc00000b7
	for _, arch := range []uint32{x86_64, i386, aarch64} {
		for nr := uint32(0); nr < 1024; nr++ {
			nrs := []uint32{nr}
			if arch == x86_64 {
				nrs = append(nrs, nr|0x40000000) // x32
			}
			for _, n := range nrs {
				for _, arg0 := range []uint64{0, 8, 0x11, 0x20000, 0x10000000, 0x7e020000, 0xffffffff, 1 << 32} {
					in := payload(n, arch, arg0)
					ra, errA := va.Run(in)
					rb, errB := vb.Run(in)
					if ra != rb || (errA == nil) != (errB == nil) {
						return fmt.Sprintf("arch %#x nr %#x arg0 %#x: %#x (%v) vs %#x (%v)", arch, n, arg0, ra, errA, rb, errB)
					}
				}
			}
		}
	}
	return ""
}

func waitProcess(t *testing.T, cmdline string) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			var pid int
			if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
				continue
			}
			if b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); string(b) == cmdline {
				return pid
			}
		}
	}
	t.Fatalf("no process %q", cmdline)
	return 0
}

func statusLine(t *testing.T, pid int, prefix string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// seccompFilters returns pid's filters, as the kernel holds them (PTRACE_SECCOMP_GET_FILTER).
// waitTraceStop waits, at most 10 s, until pid is in its ptrace stop: its wait notification, or
// the stop as /proc shows it (a notification can be slow to come on a loaded machine; a stop seen
// there is as good for reading filters).
// waitTraceStop waits until pid, seized by this thread, stops for it; false after 10 s.
func waitTraceStop(t *testing.T, pid int) bool {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		var ws unix.WaitStatus
		if got, err := unix.Wait4(pid, &ws, unix.WALL|unix.WNOHANG, nil); err != nil {
			t.Errorf("wait4 %d: %v", pid, err)
			return false
		} else if got == pid {
			return true
		}
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			// The state follows the command's closing parenthesis.
			if i := strings.LastIndexByte(string(stat), ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 't' {
				return true
			}
		}
	}
	return false
}

// waitExeced waits until pid runs its own program: a container's pid is first libcontainer's
// init (this test binary, several threads), and a tracer seizing one thread of it while another
// execs the program may never see the stop it asked for.
func waitExeced(t *testing.T, pid int) {
	t.Helper()
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err == nil && exe != self && len(tasks) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still runs %q with %d threads after 30 s", pid, exe, len(tasks))
		}
	}
}

// seccompFilters reads the seccomp programs the kernel holds for pid, through ptrace. Whatever
// happens, pid is left untraced: a process killed while still traced by a thread that gave up on
// it stays a zombie that its real parent (the shim) never hears of.
func seccompFilters(t *testing.T, pid int) [][]byte {
	t.Helper()
	waitExeced(t, pid)
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	if err := unix.PtraceSeize(pid); err != nil {
		t.Fatalf("seize %d: %v", pid, err)
	}
	if err := unix.PtraceInterrupt(pid); err != nil {
		_ = unix.PtraceDetach(pid)
		t.Fatal(err)
	}
	if !waitTraceStop(t, pid) {
		// It never stopped, so it cannot be detached: end it here and reap it as its tracer,
		// which hands its exit on to the shim.
		_ = unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, unix.WALL, nil)
		t.Fatalf("pid %d did not stop for its tracer within 10 s (killed)", pid)
	}
	defer unix.PtraceDetach(pid)
	const getFilter = 0x420c // PTRACE_SECCOMP_GET_FILTER
	var out [][]byte
	for i := 0; ; i++ {
		n, _, e := unix.Syscall6(unix.SYS_PTRACE, getFilter, uintptr(pid), uintptr(i), 0, 0, 0)
		if e == unix.ENOENT {
			return out
		}
		if e != 0 {
			t.Fatalf("PTRACE_SECCOMP_GET_FILTER %d: %v", i, e)
		}
		prog := make([]unix.SockFilter, n)
		if _, _, e := unix.Syscall6(unix.SYS_PTRACE, getFilter, uintptr(pid), uintptr(i), uintptr(unsafe.Pointer(&prog[0])), 0, 0); e != 0 {
			t.Fatal(e)
		}
		out = append(out, append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&prog[0])), int(n)*8)...))
	}
}

// TestExecProcess: exit codes, signals, stdin, stderr, a missing program, timeouts (the process
// is killed), an exec racing the others, and a container that has stopped.
func TestExecProcess(t *testing.T) {
	h := newHarness(t)
	r := h.new(t, t.TempDir()).(*Runtime)
	sb := h.pod(t, r, runtime.SandboxConfig{Name: "proc"})
	logPath := filepath.Join(t.TempDir(), "c.log")
	id := run(t, r, sb, &runtime.ContainerConfig{Name: "c", LogPath: logPath,
		Command: []string{"sh", "-c", "while true; do echo tick; sleep 0.02; done"}})
	ctx := context.Background()

	for _, tc := range []struct {
		cmd       []string
		code      int
		out, errs string
		errWanted string
	}{
		{[]string{"sh", "-c", "echo out; echo err >&2; exit 3"}, 3, "out\n", "err\n", ""},
		{[]string{"sh", "-c", "kill -9 $$"}, 137, "", "", ""},
		{[]string{"/bin/true"}, 0, "", "", ""},
		{[]string{"no-such-program"}, -1, "", "", "executable file not found"},
		{[]string{"/no/such/program"}, -1, "", "", "executable file not found"},
	} {
		res, err := r.ExecSync(ctx, id, tc.cmd, 5*time.Second)
		if tc.errWanted != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errWanted) {
				t.Errorf("%q: error %v, want %q", tc.cmd, err, tc.errWanted)
			}
			continue
		}
		if err != nil || res.ExitCode != tc.code || string(res.Stdout) != tc.out || string(res.Stderr) != tc.errs {
			t.Errorf("%q: %+v (%q, %q) %v", tc.cmd, res, res.Stdout, res.Stderr, err)
		}
	}

	// Larger output than a pipe holds.
	res, err := r.ExecSync(ctx, id, []string{"sh", "-c", "head -c 300000 /dev/zero"}, 5*time.Second)
	if err != nil || len(res.Stdout) != 300000 {
		t.Errorf("300 kB of output: %d bytes, %v", len(res.Stdout), err)
	}

	// A timeout kills the process.
	arg := fmt.Sprint(4000 + time.Now().UnixNano()%1000)
	t0 := time.Now()
	res, err = r.ExecSync(ctx, id, []string{"sleep", arg}, 200*time.Millisecond)
	if err != nil || !res.TimedOut || time.Since(t0) > 3*time.Second {
		t.Errorf("timeout: %+v %v after %v", res, err, time.Since(t0))
	}
	if pidOf("sleep\x00"+arg+"\x00") != 0 {
		t.Errorf("the timed out process still runs")
	}

	// Execs at once, one of them long: the shim keeps logging meanwhile.
	before, _ := os.ReadFile(logPath)
	var wg sync.WaitGroup
	errs := make(chan error, 9)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.ExecSync(ctx, id, []string{"sh", "-c", fmt.Sprintf("echo %d", i)}, 10*time.Second)
			if err == nil && strings.TrimSpace(string(res.Stdout)) != fmt.Sprint(i) {
				err = fmt.Errorf("exec %d printed %q", i, res.Stdout)
			}
			errs <- err
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := r.ExecSync(ctx, id, []string{"sleep", "0.5"}, 10*time.Second)
		errs <- err
	}()
	time.Sleep(300 * time.Millisecond)
	during, _ := os.ReadFile(logPath)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if bytes.Count(during, []byte("tick")) <= bytes.Count(before, []byte("tick")) {
		t.Errorf("the shim stopped logging during an exec")
	}

	// Streams: stdin to a non-file reader, output to non-file writers.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("line one\nline two\n"))
		pw.Close()
	}()
	var out bytes.Buffer
	code, err := r.Exec(ctx, id, &runtime.ExecRequest{Cmd: []string{"wc", "-l"}, Stdin: pr, Stdout: &out})
	if err != nil || code != 0 || strings.TrimSpace(out.String()) != "2" {
		t.Errorf("stdin: %d %v %q", code, err, out.String())
	}

	// A stopped container.
	if err := r.StopContainer(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ExecSync(ctx, id, []string{"true"}, time.Second); !errors.Is(err, runtime.ErrFailedPrecondition) {
		t.Errorf("exec in a stopped container: %v", err)
	}
	c, _ := r.getContainer(id)
	if _, err := shim.StartExec(c.proc.dir, &shim.ExecSpec{Args: []string{"true"}}, os.Stdin, os.Stdout, os.Stderr); !errors.Is(err, shim.ErrNotRunning) {
		t.Errorf("the shim of a stopped container: %v", err)
	}
}

func pidOf(cmdline string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		if b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); string(b) == cmdline {
			return pid
		}
	}
	return 0
}

// TestExecAfterAdoption: a runtime started over the state of another one execs in the containers
// it adopted, through their shims.
func TestExecAfterAdoption(t *testing.T) {
	h := newHarness(t)
	state := t.TempDir()
	r1 := h.new(t, state)
	var r2 *Runtime
	sb, err := r1.RunPodSandbox(context.Background(), &runtime.SandboxConfig{Name: "adopt", Namespace: "default",
		UID: "adopt", CgroupParent: h.cgroot + "/podadopt"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rt := r1
		if r2 != nil {
			rt = r2
		}
		if err := rt.RemovePodSandbox(context.Background(), sb); err != nil {
			t.Error(err)
		}
	})
	id := run(t, r1, sb, &runtime.ContainerConfig{Name: "c", Command: []string{"sleep", "60"},
		User: &runtime.User{UID: 1000, GID: 1000}, WorkingDir: "/tmp"})
	if got := execOut(t, r1, id, "id", "-u"); got != "1000" {
		t.Fatalf("before: uid %q", got)
	}
	r1.Close()
	r2 = h.open(t, state).(*Runtime)
	if got := execOut(t, r2, id, "sh", "-c", "id -u; pwd"); got != "1000\n/tmp" {
		t.Errorf("after adoption: %q", got)
	}
	c, _ := r2.getContainer(id)
	if c.xp == nil || c.xp.why != "" {
		t.Errorf("the exec after adoption did not go through the shim: %+v", c.xp)
	}
}
