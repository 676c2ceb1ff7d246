package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sys/unix"
)

var (
	builtOnce sync.Once
	builtErr  error
	built     map[string]*Built
)

// images builds the three images once per test binary: every test below looks at the same build.
func images(t *testing.T) map[string]*Built {
	t.Helper()
	builtOnce.Do(func() {
		dir, err := ModuleDir()
		if err != nil {
			builtErr = err
			return
		}
		specs, err := AllSpecs(context.Background(), dir)
		if err != nil {
			builtErr = err
			return
		}
		built = map[string]*Built{}
		for _, s := range specs {
			b, err := s.Build()
			if err != nil {
				builtErr = err
				return
			}
			built[s.Name] = b
		}
	})
	if builtErr != nil {
		t.Fatalf("building test images: %v", builtErr)
	}
	return built
}

// layerFiles lists an image's single layer: path -> entry.
func layerFiles(t *testing.T, img v1.Image) map[string]tarEntry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	m, _ := readTar(t, rc)
	return m
}

func nonDirs(m map[string]tarEntry) []string {
	var out []string
	for p, e := range m {
		if e.typ != tar.TypeDir {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func TestImageConfigs(t *testing.T) {
	imgs := images(t)
	cases := []struct {
		name       string
		refPrefix  string
		entrypoint []string
		cmd        []string
		ports      []string
		stopSignal string
		sourceHas  string
	}{
		{Testserver, "skiff.local/test/testserver:0.1", []string{TestserverPath}, []string{"serve"}, []string{"8080/tcp"}, "", TestserverPackage},
		{Busybox, "skiff.local/test/busybox:1.", nil, []string{"sh"}, nil, "", "debian:busybox-static="},
		{Nginx, "skiff.local/test/nginx:1.", nil, []string{"nginx", "-g", "daemon off;"}, []string{"80/tcp"}, "SIGQUIT", "debian:nginx="},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := imgs[tc.name]
			if !strings.HasPrefix(b.Ref, tc.refPrefix) || strings.HasSuffix(b.Ref, ":latest") {
				t.Fatalf("ref %q, want prefix %q and no :latest", b.Ref, tc.refPrefix)
			}
			cf, err := b.Image.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || !cf.Created.Time.Equal(Epoch) {
				t.Fatalf("os/arch/created %s/%s/%v", cf.OS, cf.Architecture, cf.Created)
			}
			c := cf.Config
			if fmt.Sprint(c.Entrypoint) != fmt.Sprint(tc.entrypoint) || fmt.Sprint(c.Cmd) != fmt.Sprint(tc.cmd) {
				t.Fatalf("entrypoint %q cmd %q, want %q %q", c.Entrypoint, c.Cmd, tc.entrypoint, tc.cmd)
			}
			if len(c.Env) != 1 || c.Env[0] != DefaultPath {
				t.Fatalf("env %q", c.Env)
			}
			var ports []string
			for p := range c.ExposedPorts {
				ports = append(ports, p)
			}
			if fmt.Sprint(ports) != fmt.Sprint(tc.ports) {
				t.Fatalf("exposed ports %v, want %v", ports, tc.ports)
			}
			if c.StopSignal != tc.stopSignal {
				t.Fatalf("stop signal %q, want %q", c.StopSignal, tc.stopSignal)
			}
			if src := c.Labels["dev.skiff.test-image.source"]; !strings.Contains(src, tc.sourceHas) {
				t.Fatalf("source label %q, want it to name %q", src, tc.sourceHas)
			}
			if len(cf.RootFS.DiffIDs) != 1 || len(cf.History) != 1 {
				t.Fatalf("rootfs %v history %v", cf.RootFS.DiffIDs, cf.History)
			}
			t.Logf("%s %s size %d", b.Ref, b.Digest, b.Size)
		})
	}
}

func TestTestserverFiles(t *testing.T) {
	files := layerFiles(t, images(t)[Testserver].Image)
	want := []string{"/etc/group", "/etc/passwd", TestserverPath}
	if got := nonDirs(files); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if files["/tmp"].mode != 0o1777 {
		t.Fatalf("/tmp mode %o", files["/tmp"].mode)
	}
	if e := files[TestserverPath]; e.mode != 0o755 || !strings.HasPrefix(e.data, "\x7fELF") {
		t.Fatalf("binary mode %o, head %q", e.mode, e.data[:4])
	}
	if !strings.Contains(files["/etc/passwd"].data, "nobody:x:65534:65534:") {
		t.Fatalf("passwd %q", files["/etc/passwd"].data)
	}
}

func TestBusyboxFiles(t *testing.T) {
	files := layerFiles(t, images(t)[Busybox].Image)
	bin, err := firstExisting("/bin/busybox", "/usr/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	applets := map[string]bool{}
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			applets["/bin/"+a] = true
		}
	}
	for _, common := range []string{"sh", "ls", "cat", "echo", "sleep", "env", "wget", "nc", "ps", "kill", "hostname", "id", "mkdir", "touch", "grep", "sed", "awk", "head", "tail", "true", "false", "test", "[", "ip", "nslookup", "mount", "date", "printf"} {
		if !applets["/bin/"+common] {
			t.Errorf("busybox on this machine lacks the common applet %s", common)
		}
	}
	var regular []string
	for p, e := range files {
		switch e.typ {
		case tar.TypeReg:
			regular = append(regular, p)
		case tar.TypeSymlink:
			if applets[p] {
				if e.link != "busybox" {
					t.Errorf("%s -> %s, want busybox", p, e.link)
				}
				delete(applets, p)
			} else if p != "/usr/bin/env" {
				t.Errorf("unexpected symlink %s -> %s", p, e.link)
			}
		}
	}
	if len(applets) > 0 {
		t.Errorf("applets without a link: %v", applets)
	}
	sort.Strings(regular)
	if want := []string{"/bin/busybox", "/etc/group", "/etc/passwd"}; fmt.Sprint(regular) != fmt.Sprint(want) {
		t.Errorf("regular files %v, want %v", regular, want)
	}
	if _, ok := files["/lib64"]; ok {
		t.Error("a static busybox image carries /lib64")
	}
}

func TestNginxFiles(t *testing.T) {
	files := layerFiles(t, images(t)[Nginx].Image)
	// Worked out independently of SharedLibraries: every absolute path ldd prints.
	out, err := exec.Command("ldd", NginxBinary).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") {
			want[f] = true
		}
	}
	info, err := ReadELF(NginxBinary)
	if err != nil {
		t.Fatal(err)
	}
	if !want[info.Interpreter] {
		t.Fatalf("ldd output does not name the loader %s: %s", info.Interpreter, out)
	}
	if len(want) < 3 {
		t.Fatalf("ldd reports too little to be Debian's nginx: %s", out)
	}
	for _, f := range []string{NginxBinary, "/etc/nginx/nginx.conf", "/etc/nginx/conf.d/default.conf", "/etc/nginx/mime.types",
		"/usr/share/nginx/html/index.html", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
		"/var/log/nginx/access.log", "/var/log/nginx/error.log"} {
		want[f] = true
	}
	for _, f := range []string{"fastcgi_params", "fastcgi.conf", "scgi_params", "uwsgi_params"} {
		if _, err := os.Stat("/etc/nginx/" + f); err == nil {
			want["/etc/nginx/"+f] = true
		}
	}
	var wantList []string
	for f := range want {
		wantList = append(wantList, f)
	}
	sort.Strings(wantList)
	if got := nonDirs(files); fmt.Sprint(got) != fmt.Sprint(wantList) {
		t.Fatalf("files\n got %v\nwant %v", got, wantList)
	}
	for lib := range want {
		if !strings.Contains(lib, ".so") {
			continue
		}
		host, err := os.ReadFile(lib)
		if err != nil {
			t.Fatal(err)
		}
		if e := files[lib]; e.typ != tar.TypeReg || sha256.Sum256([]byte(e.data)) != sha256.Sum256(host) {
			t.Errorf("%s in the image is not the host's library", lib)
		}
	}
	for _, d := range []string{"/var/lib/nginx", "/var/log/nginx", "/run", "/tmp"} {
		if files[d].typ != tar.TypeDir {
			t.Errorf("%s missing", d)
		}
	}
	if e := files["/var/log/nginx/access.log"]; e.link != "/dev/stdout" {
		t.Errorf("access.log -> %q", e.link)
	}
	if !strings.Contains(files["/etc/passwd"].data, "www-data:x:33:33:") || !strings.Contains(files["/etc/passwd"].data, "nobody:x:65534:") {
		t.Errorf("passwd %q", files["/etc/passwd"].data)
	}
	conf := files["/etc/nginx/nginx.conf"].data + files["/etc/nginx/conf.d/default.conf"].data
	if !strings.Contains(conf, "listen 80;") || strings.Contains(conf, "daemon") {
		t.Errorf("config should listen on 80 and leave daemon off to the command: %s", conf)
	}
	if !strings.Contains(files["/usr/share/nginx/html/index.html"].data, "Welcome to nginx!") {
		t.Errorf("index.html %q", files["/usr/share/nginx/html/index.html"].data)
	}
}

// TestDeterministic builds every image a second time from scratch (the testserver compiled again)
// and checks that digests and archive bytes do not move, and that both archive formats give back
// the digest the image was built with.
func TestDeterministic(t *testing.T) {
	first := images(t)
	dir, err := ModuleDir()
	if err != nil {
		t.Fatal(err)
	}
	specs, err := AllSpecs(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, s := range specs {
		t.Run(s.Name, func(t *testing.T) {
			b, err := s.Build()
			if err != nil {
				t.Fatal(err)
			}
			a := first[s.Name]
			if b.Digest != a.Digest || b.ID != a.ID || b.Key != a.Key || b.Size != a.Size {
				t.Fatalf("second build %s/%s/%d, first %s/%s/%d", b.Digest, b.ID, b.Size, a.Digest, a.ID, a.Size)
			}
			for _, f := range []Format{FormatDocker, FormatOCI} {
				p1 := filepath.Join(out, s.Name+"-1."+string(f))
				p2 := filepath.Join(out, s.Name+"-2."+string(f))
				if err := WriteArchive(p1, f, a.Ref, a.Image); err != nil {
					t.Fatal(err)
				}
				if err := WriteArchive(p2, f, b.Ref, b.Image); err != nil {
					t.Fatal(err)
				}
				x, _ := os.ReadFile(p1)
				y, _ := os.ReadFile(p2)
				if !bytes.Equal(x, y) {
					t.Fatalf("%s archives of the two builds differ", f)
				}
			}
			back, err := ReadDockerArchive(filepath.Join(out, s.Name+"-1.docker"))
			if err != nil {
				t.Fatal(err)
			}
			if d, _ := back.Digest(); d != a.Digest {
				t.Fatalf("docker archive reads back as %s, built %s", d, a.Digest)
			}
			checkOCIArchive(t, filepath.Join(out, s.Name+"-1.oci"), a)
		})
	}
}

// checkOCIArchive reads the OCI archive's index and blobs by hand: every blob matches its digest
// and the index names the built manifest and its reference.
func checkOCIArchive(t *testing.T, path string, b *Built) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	blobs := map[string][]byte{}
	var index v1.IndexManifest
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		switch {
		case h.Name == "index.json":
			if err := json.Unmarshal(data, &index); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(h.Name, "blobs/sha256/") && h.Typeflag == tar.TypeReg:
			hex := strings.TrimPrefix(h.Name, "blobs/sha256/")
			if fmt.Sprintf("%x", sha256.Sum256(data)) != hex {
				t.Fatalf("blob %s does not match its digest", hex)
			}
			blobs[hex] = data
		}
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Digest != b.Digest {
		t.Fatalf("index %+v, want the manifest %s", index, b.Digest)
	}
	if got := index.Manifests[0].Annotations["io.containerd.image.name"]; got != b.Ref {
		t.Fatalf("index names %q, want %q", got, b.Ref)
	}
	m, err := v1.ParseManifest(bytes.NewReader(blobs[b.Digest.Hex]))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := blobs[m.Config.Digest.Hex]; !ok {
		t.Fatal("config blob missing")
	}
	for _, l := range m.Layers {
		if _, ok := blobs[l.Digest.Hex]; !ok {
			t.Fatalf("layer %s missing", l.Digest)
		}
	}
}

// TestPushToInProcessRegistry pushes the testserver image to a registry on loopback under the same
// repository and tag and pulls it back by that name.
func TestPushToInProcessRegistry(t *testing.T) {
	b := images(t)[Testserver]
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	dst, err := MirrorRef(b.Ref, host)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := Push(ctx, b.Image, dst); err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(dst)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := pulled.Digest(); d != b.Digest {
		t.Fatalf("pulled %s, pushed %s", d, b.Digest)
	}
	for _, bad := range []string{host + "/test/testserver", host + "/test/testserver:latest"} {
		if err := Push(ctx, b.Image, bad); err == nil {
			t.Fatalf("push to %s: no error, want a refusal of an implied or explicit :latest", bad)
		}
	}
}

// --- running an image's rootfs -------------------------------------------------------------

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs the image's rootfs with chroot in new namespaces")
	}
}

// rootfs unpacks an image and plays the runtime's part minimally: /dev/stdout and /dev/stderr are
// plain files the test can read (nginx's logs link to them), /proc and /dev exist.
func rootfs(t *testing.T, img v1.Image) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := ExtractRootfs(img, dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"dev", "proc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"dev/stdout", "dev/stderr", "dev/null"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// argv resolves the image's entrypoint and command as a runtime would, PATH searched inside the
// rootfs.
func argv(t *testing.T, root string, cf *v1.ConfigFile) []string {
	t.Helper()
	args := append(append([]string(nil), cf.Config.Entrypoint...), cf.Config.Cmd...)
	if len(args) == 0 {
		t.Fatal("image has neither entrypoint nor cmd")
	}
	if !strings.Contains(args[0], "/") {
		for _, kv := range cf.Config.Env {
			if !strings.HasPrefix(kv, "PATH=") {
				continue
			}
			for _, d := range strings.Split(strings.TrimPrefix(kv, "PATH="), ":") {
				if fi, err := os.Stat(filepath.Join(root, d, args[0])); err == nil && !fi.IsDir() {
					args[0] = filepath.Join(d, args[0])
					break
				}
			}
		}
	}
	if !strings.HasPrefix(args[0], "/") {
		t.Fatalf("%s not found on the image's PATH", args[0])
	}
	return args
}

// inNetns runs fn on an OS thread moved into a new network namespace with only loopback, up.
// Everything fn starts or dials from that goroutine lives there, so a server on port 80 collides
// with nothing and no packet leaves. The thread is never unlocked: it dies with the goroutine and
// takes the namespace along.
func inNetns(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		if err := loopbackUp(); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// get dials from the calling goroutine (which must be the namespace's thread) and speaks HTTP
// over that one connection: http.Client would dial from a goroutine of its own, on any thread.
func get(addr, path string) (int, string, error) {
	var conn net.Conn
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err = net.DialTimeout("tcp", addr, time.Second)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Close = true
	if err := req.Write(conn); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// startChroot starts the image's command chrooted into root, as PID 1 of a new PID namespace so
// that killing it takes every process it forked along.
func startChroot(root string, args, env []string) (*exec.Cmd, *bytes.Buffer, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Cloneflags: syscall.CLONE_NEWPID, Pdeathsig: syscall.SIGKILL}
	return cmd, &out, cmd.Start()
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
}

// children lists the PIDs whose parent is pid, with their real UID.
func children(pid int) map[int]int {
	out := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var ppid, uid int = -1, -1
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PPid:"); ok {
				ppid, _ = strconv.Atoi(strings.TrimSpace(v))
			}
			if v, ok := strings.CutPrefix(line, "Uid:"); ok {
				uid, _ = strconv.Atoi(strings.Fields(v)[0])
			}
		}
		if ppid == pid {
			out[p] = uid
		}
	}
	return out
}

func TestNginxServesInChroot(t *testing.T) {
	requireRoot(t)
	img := images(t)[Nginx].Image
	root := rootfs(t, img)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	args := argv(t, root, cf)
	if args[0] != NginxBinary {
		t.Fatalf("command resolves to %s", args[0])
	}
	var workers map[int]int
	var master int
	var out *bytes.Buffer
	err = inNetns(func() error {
		cmd, o, err := startChroot(root, args, cf.Config.Env)
		out = o
		if err != nil {
			return err
		}
		defer stop(cmd)
		master = cmd.Process.Pid
		code, body, err := get("127.0.0.1:80", "/")
		if err != nil {
			return fmt.Errorf("GET /: %w (nginx said %q)", err, o.String())
		}
		if code != 200 || !strings.Contains(body, "Welcome to nginx!") {
			return fmt.Errorf("GET / = %d %q", code, body)
		}
		if code, _, err := get("127.0.0.1:80", "/missing"); err != nil || code != 404 {
			return fmt.Errorf("GET /missing = %d, %v", code, err)
		}
		workers = children(master)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(workers) == 0 {
		t.Fatalf("nginx master %d had no workers", master)
	}
	for pid, uid := range workers {
		if uid != 33 {
			t.Errorf("worker %d runs as uid %d, want www-data (33)", pid, uid)
		}
	}
	access, _ := os.ReadFile(filepath.Join(root, "dev/stdout"))
	if !strings.Contains(string(access), `"GET / HTTP/1.1" 200`) || !strings.Contains(string(access), `"GET /missing HTTP/1.1" 404`) {
		t.Errorf("access log (the image's /dev/stdout) = %q", access)
	}
	for pid := range workers {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(b), ") Z ") {
				t.Errorf("worker %d survived its master", pid)
			}
		}
	}
	t.Logf("nginx output: %s", out)
}

func TestTestserverServesInChroot(t *testing.T) {
	requireRoot(t)
	img := images(t)[Testserver].Image
	root := rootfs(t, img)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	args := argv(t, root, cf)
	env := append(cf.Config.Env, "GREETING=from-the-test")
	err = inNetns(func() error {
		cmd, out, err := startChroot(root, args, env)
		if err != nil {
			return err
		}
		defer stop(cmd)
		for _, c := range []struct {
			path, want string
			code       int
		}{
			{"/healthz", "ok\n", 200},
			{"/env?name=GREETING", "from-the-test\n", 200},
			{"/write?path=/tmp/vol/f&data=persisted", "wrote 9 bytes to /tmp/vol/f\n", 200},
			{"/read?path=/tmp/vol/f", "persisted", 200},
		} {
			code, body, err := get("127.0.0.1:8080", c.path)
			if err != nil {
				return fmt.Errorf("GET %s: %w (testserver said %q)", c.path, err, out.String())
			}
			if code != c.code || body != c.want {
				return fmt.Errorf("GET %s = %d %q, want %d %q", c.path, code, body, c.code, c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "tmp/vol/f")); err != nil || string(b) != "persisted" {
		t.Fatalf("file written through the server: %q, %v", b, err)
	}
}

func TestBusyboxRunsInChroot(t *testing.T) {
	requireRoot(t)
	img := images(t)[Busybox].Image
	root := rootfs(t, img)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	args := append(argv(t, root, cf), "-c", "echo hello; id -u nobody; ls /bin/wget; env sh -c 'exit 3'")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = cf.Config.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("exit %v, want code 3; output %q", err, out)
	}
	if want := "hello\n65534\n/bin/wget\n"; string(out) != want {
		t.Fatalf("output %q, want %q", out, want)
	}
}
