package testcluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/kubelet/podcgroups"
	"github.com/skiff-dev/skiff/internal/network"
	"github.com/skiff-dev/skiff/internal/network/nettest"
	"github.com/skiff-dev/skiff/internal/pki"
	"github.com/skiff-dev/skiff/internal/runtime/image"
	"github.com/skiff-dev/skiff/internal/runtime/libcontainer"
	"github.com/skiff-dev/skiff/internal/server"
)

// Node is one node agent, a `skiff kubelet` process in its LAN host's network namespace.
type Node struct {
	Name       string
	Host       *nettest.Host
	IP         netip.Addr   // the host's LAN address, the Node's InternalIP
	PodCIDR    netip.Prefix // 198.19.<index>.0/24
	DataDir    string
	CgroupRoot string // e.g. /skiff-e2e-<suffix>-n0, below every cgroup mount
	Bridge     string // inside the host's namespace
	LogPath    string // the agent's stderr, across restarts

	bin  string
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (c *Cluster) newNode(t *testing.T, h *nettest.Host, name string, o Options) (*Node, error) {
	// Short: unix socket paths of the runtime's shims live below it.
	dir, err := os.MkdirTemp("", "skiff-"+name+"-")
	if err != nil {
		return nil, err
	}
	n := &Node{
		Name: name, Host: h, IP: h.IP, PodCIDR: h.PodCIDR, DataDir: dir,
		CgroupRoot: "/skiff-e2e-" + name, Bridge: network.BridgeName(name),
		LogPath: filepath.Join(t.TempDir(), name+".log"), bin: c.Binary,
	}
	t.Cleanup(func() { n.forceClean(t) })
	pkiDir := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return nil, err
	}
	client, err := c.ca.Issue(pki.CertSpec{CommonName: "system:node:" + name,
		Organizations: []string{server.NodeGroup}, Usage: pki.ClientAuth})
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubelet.kubeconfig")
	if err := pki.WriteKubeconfig(kubeconfig, c.apiURL, "skiff", "system:node:"+name, c.ca.CertPEM, client.CertPEM, client.KeyPEM); err != nil {
		return nil, err
	}
	serving, err := c.ca.Issue(pki.CertSpec{CommonName: "system:node:" + name,
		Organizations: []string{server.NodeGroup}, Usage: pki.ServerAuth,
		DNSNames: []string{name}, IPs: []net.IP{h.IP.AsSlice()}})
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"kubelet.crt": serving.CertPEM, "kubelet.key": serving.KeyPEM, "ca.crt": c.ca.CertPEM}
	for f, b := range files {
		if err := os.WriteFile(filepath.Join(pkiDir, f), b, 0o600); err != nil {
			return nil, err
		}
	}
	store, err := image.Open(image.Config{Root: filepath.Join(dir, "images")})
	if err != nil {
		return nil, err
	}
	for _, name := range o.Images {
		img, ok := c.Images.Images[name]
		if !ok {
			return nil, fmt.Errorf("no test image %q", name)
		}
		if _, err := store.Import(context.Background(), img.Archive); err != nil {
			return nil, fmt.Errorf("import %s: %w", name, err)
		}
	}
	n.args = []string{"kubelet", "--kubeconfig", kubeconfig, "--node-name", name,
		"--node-ip", h.IP.String(), "--data-dir", dir, "--cgroup-root", n.CgroupRoot,
		"--bridge-name", n.Bridge, "--cluster-cidr", nettest.ClusterCIDR.String(),
		"--tls-cert-file", filepath.Join(pkiDir, "kubelet.crt"),
		"--tls-private-key-file", filepath.Join(pkiDir, "kubelet.key"),
		"--client-ca-file", filepath.Join(pkiDir, "ca.crt"), "--log-level", "debug"}
	if !o.AllocatePodCIDRs {
		n.args = append(n.args, "--pod-cidr", h.PodCIDR.String())
	}
	if c.DNSIP != nil {
		n.args = append(n.args, "--cluster-dns", c.DNSIP.String())
	}
	if o.NodeArgs != nil {
		n.args = append(n.args, o.NodeArgs(n)...)
	}
	return n, nil
}

// start runs the agent process inside the host's namespace.
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("node %s: agent already running", n.Name)
	}
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== testcluster: starting the agent at %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(n.bin, n.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A process group of its own: a ^C of the test does not reach it before the cleanups do.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.Host.Start(cmd); err != nil {
		logf.Close()
		return fmt.Errorf("node %s: starting the agent: %w", n.Name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	n.cmd, n.done = cmd, done
	return nil
}

// stop ends the agent, gracefully when grace > 0 (SIGTERM, then SIGKILL after grace), at once
// with SIGKILL otherwise. Containers keep running either way: that is what agents do.
func (n *Node) stop(grace time.Duration) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd, n.done = nil, nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	if grace > 0 {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
			return
		case <-time.After(grace):
		}
	}
	cmd.Process.Kill()
	<-done
}

// Stop ends the agent with SIGTERM (SIGKILL after 10 s) and waits for it.
func (n *Node) Stop(t testing.TB) {
	t.Helper()
	n.stop(10 * time.Second)
}

// Kill ends the agent with SIGKILL, as a crash would, and waits for it.
func (n *Node) Kill(t testing.TB) {
	t.Helper()
	n.stop(0)
}

// Start starts a stopped agent again over the same data dir; it adopts what the last one left.
func (n *Node) Start(t testing.TB) {
	t.Helper()
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
}

// Running says whether the agent process is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// PodCgroups lists the cgroup directories of pod uid below the node's cgroup root, on every
// hierarchy.
func (n *Node) PodCgroups(uid string) []string {
	var out []string
	for _, base := range []string{"/sys/fs/cgroup/*", "/sys/fs/cgroup"} {
		for _, g := range podcgroups.PodGlobs(n.CgroupRoot, uid) {
			m, _ := filepath.Glob(filepath.Join(base, g))
			out = append(out, m...)
		}
	}
	return out
}

// Leftovers lists what the node still holds of pod uid (of any pod when uid is ""): mounts below
// its data dir, pod cgroups, pod directories and, for "", sandboxes in the runtime's state.
func (n *Node) Leftovers(uid string) []string { return Leftovers(n.DataDir, n.CgroupRoot, uid) }

// Leftovers is Node.Leftovers for any node agent given its data dir and cgroup root (the
// in-process agent of a `skiff server` has <data dir>/agent).
func Leftovers(dataDir, cgroupRoot, uid string) []string {
	var left []string
	if f, err := os.Open("/proc/thread-self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) > 4 && strings.HasPrefix(fs[4], dataDir+"/") && (uid == "" || strings.Contains(fs[4], uid)) {
				left = append(left, "mount "+fs[4])
			}
		}
		f.Close()
	}
	for _, base := range []string{"/sys/fs/cgroup/*", "/sys/fs/cgroup"} {
		for _, g := range podcgroups.PodGlobs(cgroupRoot, uid) {
			m, _ := filepath.Glob(filepath.Join(base, g))
			for _, d := range m {
				left = append(left, "cgroup "+d)
			}
		}
	}
	if uid != "" {
		if _, err := os.Stat(filepath.Join(dataDir, "pods", uid)); err == nil {
			left = append(left, "pod dir "+uid)
		}
	} else {
		ents, _ := os.ReadDir(filepath.Join(dataDir, "runtime", "sandboxes"))
		for _, e := range ents {
			left = append(left, "sandbox "+e.Name())
		}
	}
	return left
}

func (n *Node) forceClean(t *testing.T) {
	n.stop(0)
	ForceClean(t, n.DataDir, n.CgroupRoot)
}

// ForceClean removes whatever a test left of a node agent that no longer runs: its sandboxes
// (through a runtime over the same state, which kills their processes and unmounts), its cgroups
// and its data dir.
func ForceClean(t testing.TB, dataDir, cgroupRoot string) {
	if _, err := os.Stat(filepath.Join(dataDir, "runtime")); err == nil {
		if rt, err := libcontainer.New(libcontainer.Config{StateDir: filepath.Join(dataDir, "runtime"),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err == nil {
			sbs, _ := rt.ListPodSandbox(context.Background(), nil)
			for _, sb := range sbs {
				rt.RemovePodSandbox(context.Background(), sb.ID)
			}
			rt.Close()
		}
	}
	for _, base := range []string{"/sys/fs/cgroup/*", "/sys/fs/cgroup"} {
		roots, _ := filepath.Glob(filepath.Join(base, cgroupRoot))
		for _, r := range roots {
			var dirs []string
			filepath.Walk(r, func(p string, info os.FileInfo, err error) error {
				if err == nil && info.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			for i := len(dirs) - 1; i >= 0; i-- {
				if err := os.Remove(dirs[i]); err != nil && !os.IsNotExist(err) {
					t.Errorf("testcluster: %s: cgroup left: %v", dataDir, err)
				}
			}
		}
	}
	if err := os.RemoveAll(dataDir); err != nil {
		t.Errorf("testcluster: %s: removing the data dir: %v", dataDir, err)
	}
}
