package kubectl

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/testserver"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with what kubectl prints")

var (
	// skiffBin is the binary built once for the package, with the Makefile's ldflags so that kubectl
	// reports the Kubernetes version skiff serves.
	skiffBin string
	// repoRoot holds examples/ and the Makefile.
	repoRoot string
	// server is shared by every test; each test works in namespaces of its own.
	server *testserver.Server
	// home is kubectl's $HOME: its discovery and OpenAPI caches go there, not in the user's.
	home string
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = filepath.Join(wd, "..", "..", "..")
	tmp, err := os.MkdirTemp("", "skiff-kubectl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	home = filepath.Join(tmp, "home")
	skiffBin, err = testserver.Binary()
	defer testserver.RemoveBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "building skiff:", err)
		return 1
	}
	server, err = testserver.StartServer(testserver.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting skiff server:", err)
		return 1
	}
	defer server.Stop()
	return m.Run()
}

// result is what a user sees of one kubectl run.
type result struct {
	Stdout, Stderr string
	Code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.Code, r.Stdout, r.Stderr)
}

// run options of one kubectl invocation.
type opts struct {
	stdin string
	env   []string
}

// kubectl runs `skiff kubectl --kubeconfig <admin> args...` from the repository root (so that
// examples/... paths work as in the README) and returns what it printed.
func kubectl(t testing.TB, args ...string) result {
	t.Helper()
	return kubectlWith(t, opts{}, args...)
}

func kubectlWith(t testing.TB, o opts, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, skiffBin, append([]string{"kubectl", "--kubeconfig", server.Kubeconfig}, args...)...)
	cmd.Dir = repoRoot
	cmd.Env = append(cleanEnv(), o.env...)
	cmd.Stdin = strings.NewReader(o.stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{Stdout: stdout.String(), Stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
		}
		r.Code = ee.ExitCode()
	}
	return r
}

// cleanEnv is the test's environment without what would steer kubectl elsewhere.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "KUBECONFIG", "KUBE_EDITOR", "EDITOR", "KUBECTL_EXTERNAL_DIFF":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home)
}

// ok runs kubectl, fails the test unless it exits 0 with nothing on stderr, and returns stdout.
func ok(t testing.TB, args ...string) string {
	t.Helper()
	r := kubectl(t, args...)
	if r.Code != 0 || r.Stderr != "" {
		t.Fatalf("kubectl %s:\n%s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// expectOut checks that kubectl exits 0 and prints exactly want.
func expectOut(t testing.TB, want string, args ...string) {
	t.Helper()
	if got := ok(t, args...); got != want {
		t.Errorf("kubectl %s printed\n%q\nwant\n%q", strings.Join(args, " "), got, want)
	}
}

// namespace creates a namespace for one test, with kubectl, and returns its name.
func namespace(t testing.TB, name string) string {
	t.Helper()
	expectOut(t, "namespace/"+name+" created\n", "create", "namespace", name)
	return name
}

// golden compares got with testdata/<name>, or rewrites it under -update.
func golden(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func contains(t testing.TB, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s: missing %q in\n%s", what, w, out)
		}
	}
}
