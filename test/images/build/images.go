package build

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Short names of the images this package builds.
const (
	Testserver = "testserver"
	Busybox    = "busybox"
	Nginx      = "nginx"
)

// TestserverVersion is the testserver image's tag. Bump it when the program's behaviour changes in
// a way tests could tell apart.
const TestserverVersion = "0.1"

// TestserverPath is where the testserver binary sits in its image (on the image's PATH, so exec
// tests can call it by name).
const TestserverPath = "/usr/local/bin/testserver"

// TestserverPackage is the Go package the testserver binary is built from.
const TestserverPackage = "github.com/skiff-dev/skiff/test/images/testserver"

const passwdBase = "root:x:0:0:root:/root:/bin/sh\n"
const nobodyPasswd = "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
const groupBase = "root:x:0:\n"
const nogroupGroup = "nogroup:x:65534:\n"

// nsswitch makes glibc's lookups (nginx resolves its worker user by name) read only the files the
// image carries, never a service it does not have.
const nsswitch = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"

// ModuleDir finds the root of the skiff module, where the testserver is built from: the first
// directory at or above the working directory whose go.mod declares the module.
func ModuleDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module github.com/skiff-dev/skiff\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no skiff go.mod at or above the working directory")
		}
		dir = parent
	}
}

// GoTool is the go command that builds the testserver: the one on PATH, else the one of the
// toolchain this program was built with.
func GoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// BuildTestserverBinary compiles the testserver statically (CGO_ENABLED=0) and reproducibly
// (-trimpath, no VCS stamp, no build ID), so the same sources and toolchain give the same bytes.
func BuildTestserverBinary(ctx context.Context, moduleDir, out string) error {
	cmd := exec.CommandContext(ctx, GoTool(), "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid=", "-o", out, TestserverPackage)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v: %s", TestserverPackage, err, b)
	}
	info, err := ReadELF(out)
	if err != nil {
		return err
	}
	if !info.Static() {
		return fmt.Errorf("testserver binary is not static (interpreter %q, needs %v)", info.Interpreter, info.Needed)
	}
	return nil
}

// TestserverSpec is the testserver image: the binary, /tmp, and the two users tests run as.
func TestserverSpec(binary []byte) *Spec {
	return &Spec{
		Name:       Testserver,
		Repository: Registry + "/" + Testserver,
		Tag:        TestserverVersion,
		Config: Config{
			Entrypoint:   []string{TestserverPath},
			Cmd:          []string{"serve"},
			Env:          []string{DefaultPath},
			WorkingDir:   "/",
			ExposedPorts: []string{"8080/tcp"},
			Labels: map[string]string{
				"org.opencontainers.image.title":   "skiff testserver",
				"org.opencontainers.image.version": TestserverVersion,
				"dev.skiff.test-image.source":      TestserverPackage,
			},
		},
		Entries: []Entry{
			File(TestserverPath, 0o755, binary),
			File("/etc/passwd", 0o644, []byte(passwdBase+nobodyPasswd)),
			File("/etc/group", 0o644, []byte(groupBase+nogroupGroup)),
			Dir("/tmp", 0o1777|os.ModeSticky),
		},
	}
}

// BuildTestserverSpec compiles the testserver from moduleDir and returns its image spec.
func BuildTestserverSpec(ctx context.Context, moduleDir string) (*Spec, error) {
	tmp, err := os.MkdirTemp("", "skiff-testserver-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "testserver")
	if err := BuildTestserverBinary(ctx, moduleDir, bin); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	return TestserverSpec(b), nil
}

// BusyboxSpec is Debian's busybox-static as a docker-library-like busybox image: the binary in
// /bin, one symlink per applet it reports, root and nobody, `sh` as the command.
func BusyboxSpec() (*Spec, error) {
	version, err := DebianVersion("busybox-static")
	if err != nil {
		return nil, err
	}
	bin, err := firstExisting("/bin/busybox", "/usr/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("busybox-static is installed but its binary is missing: %w", err)
	}
	info, err := ReadELF(bin)
	if err != nil {
		return nil, err
	}
	if !info.Static() {
		return nil, fmt.Errorf("%s is not static (the dynamic busybox package shadows busybox-static?)", bin)
	}
	data, _, err := hostFile(bin)
	if err != nil {
		return nil, err
	}
	applets, err := BusyboxApplets(bin)
	if err != nil {
		return nil, err
	}
	entries := []Entry{
		File("/bin/busybox", 0o755, data),
		Symlink("/usr/bin/env", "/bin/busybox"), // for #!/usr/bin/env scripts
		File("/etc/passwd", 0o644, []byte(passwdBase+nobodyPasswd)),
		File("/etc/group", 0o644, []byte(groupBase+nogroupGroup)),
		Dir("/root", 0o700),
		Dir("/tmp", 0o1777|os.ModeSticky),
		Dir("/var", 0o755),
		Dir("/home", 0o755),
	}
	for _, a := range applets {
		entries = append(entries, Symlink("/bin/"+a, "busybox"))
	}
	return &Spec{
		Name:       Busybox,
		Repository: Registry + "/" + Busybox,
		Tag:        TagFromDebianVersion(version),
		Config: Config{
			Cmd: []string{"sh"},
			Env: []string{DefaultPath},
			Labels: map[string]string{
				"org.opencontainers.image.title":   "busybox from Debian busybox-static",
				"org.opencontainers.image.version": version,
				"dev.skiff.test-image.source":      "debian:busybox-static=" + version,
			},
		},
		Entries: entries,
	}, nil
}

// BusyboxApplets lists the applets a busybox binary was built with, sorted, without "busybox".
func BusyboxApplets(bin string) ([]string, error) {
	out, err := exec.Command(bin, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", bin, err)
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		applets = append(applets, a)
	}
	sort.Strings(applets)
	if len(applets) == 0 {
		return nil, fmt.Errorf("%s --list reported no applets", bin)
	}
	return applets, nil
}

// NginxBinary is where Debian's nginx package installs the server.
const NginxBinary = "/usr/sbin/nginx"

// nginxConf mirrors the docker library image's main config: workers as an unprivileged user, logs
// to files that are links to the container's stdout and stderr, servers from conf.d. It runs in
// the foreground because the image's command says `-g "daemon off;"`, as the docker image's does;
// putting `daemon off;` here too would make nginx refuse a user command that repeats it.
const nginxConf = `user www-data;
worker_processes auto;

error_log /var/log/nginx/error.log notice;
pid /run/nginx.pid;

events {
    worker_connections 1024;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                    '$status $body_bytes_sent "$http_referer" '
                    '"$http_user_agent" "$http_x_forwarded_for"';
    access_log /var/log/nginx/access.log main;

    sendfile on;
    keepalive_timeout 65;

    include /etc/nginx/conf.d/*.conf;
}
`

// nginxDefaultServer listens on IPv4 only: a pod network namespace may have no IPv6, and nginx
// exits when a listen socket cannot be made.
const nginxDefaultServer = `server {
    listen 80;
    server_name localhost;

    location / {
        root /usr/share/nginx/html;
        index index.html index.htm;
    }
}
`

// nginxIndexFallback serves when Debian's page is not where the package puts it.
const nginxIndexFallback = "<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n<body><h1>Welcome to nginx!</h1></body></html>\n"

// nginxHostConfigs are the package's own files that configs commonly include.
var nginxHostConfigs = []string{"mime.types", "fastcgi_params", "fastcgi.conf", "scgi_params", "uwsgi_params"}

// NginxSpec is Debian's nginx as an image: the binary, exactly the libraries ldd resolves for it
// plus the loader, at the paths the loader searches, the package's mime.types and fastcgi/scgi/uwsgi
// params, a docker-like nginx.conf and default server on port 80, and the users it needs.
func NginxSpec() (*Spec, error) {
	version, err := DebianVersion("nginx")
	if err != nil {
		return nil, err
	}
	bin, _, err := hostFile(NginxBinary)
	if err != nil {
		return nil, fmt.Errorf("nginx is installed but %s is unreadable: %w", NginxBinary, err)
	}
	linked, err := SharedLibraries(NginxBinary)
	if err != nil {
		return nil, err
	}
	if linked.Loader == "" {
		return nil, fmt.Errorf("%s has no dynamic loader; expected Debian's dynamically linked nginx", NginxBinary)
	}
	entries := []Entry{File(NginxBinary, 0o755, bin)}
	for _, lib := range append(append([]string(nil), linked.Libraries...), linked.Loader) {
		data, mode, err := hostFile(lib)
		if err != nil {
			return nil, fmt.Errorf("library %s: %w", lib, err)
		}
		entries = append(entries, File(lib, mode.Perm()|0o444, data))
	}
	for _, name := range nginxHostConfigs {
		p := "/etc/nginx/" + name
		data, _, err := hostFile(p)
		if err != nil {
			if name == "mime.types" {
				return nil, fmt.Errorf("nginx's %s: %w", p, err)
			}
			continue
		}
		entries = append(entries, File(p, 0o644, data))
	}
	index, _, err := hostFile("/usr/share/nginx/html/index.html")
	if err != nil {
		index = []byte(nginxIndexFallback)
	}
	entries = append(entries,
		File("/etc/nginx/nginx.conf", 0o644, []byte(nginxConf)),
		File("/etc/nginx/conf.d/default.conf", 0o644, []byte(nginxDefaultServer)),
		File("/usr/share/nginx/html/index.html", 0o644, index),
		File("/etc/passwd", 0o644, []byte(passwdBase+"www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"+nobodyPasswd)),
		File("/etc/group", 0o644, []byte(groupBase+"www-data:x:33:\n"+nogroupGroup)),
		File("/etc/nsswitch.conf", 0o644, []byte(nsswitch)),
		Symlink("/var/log/nginx/access.log", "/dev/stdout"),
		Symlink("/var/log/nginx/error.log", "/dev/stderr"),
		Dir("/var/log/nginx", 0o755),
		Dir("/var/lib/nginx", 0o755),
		Dir("/run", 0o755),
		Dir("/tmp", 0o1777|os.ModeSticky),
	)
	return &Spec{
		Name:       Nginx,
		Repository: Registry + "/" + Nginx,
		Tag:        TagFromDebianVersion(version),
		Config: Config{
			Cmd:          []string{"nginx", "-g", "daemon off;"},
			Env:          []string{DefaultPath},
			ExposedPorts: []string{"80/tcp"},
			StopSignal:   "SIGQUIT",
			Labels: map[string]string{
				"org.opencontainers.image.title":   "nginx from Debian's nginx package",
				"org.opencontainers.image.version": version,
				"dev.skiff.test-image.source":      "debian:nginx=" + version,
			},
		},
		Entries: entries,
	}, nil
}

// AllSpecs builds the spec of every test image (compiling the testserver from moduleDir).
func AllSpecs(ctx context.Context, moduleDir string) ([]*Spec, error) {
	ts, err := BuildTestserverSpec(ctx, moduleDir)
	if err != nil {
		return nil, err
	}
	bb, err := BusyboxSpec()
	if err != nil {
		return nil, err
	}
	ng, err := NginxSpec()
	if err != nil {
		return nil, err
	}
	return []*Spec{ts, bb, ng}, nil
}
