package podsets

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-dev/skiff/internal/controller/daemonset"
	"github.com/skiff-dev/skiff/internal/controller/statefulset"
	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/test/fakenodes"
)

var (
	server   *testserver.Server
	client   kubernetes.Interface
	nodes    *fakenodes.Nodes
	skiffBin string
	home     string
	// held pods (namespace/name) are kept Running and not ready by the fake nodes.
	held sync.Map
)

// nodeNames are the fake nodes every test shares; DaemonSets place one pod on each.
var nodeNames = []string{"node-a", "node-b", "node-c"}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var err error
	skiffBin, err = testserver.Binary()
	defer testserver.RemoveBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "building skiff:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "skiff-podsets-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	home = filepath.Join(tmp, "home")
	server, err = testserver.StartServer(testserver.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting skiff server:", err)
		return 1
	}
	defer server.Stop()
	client = server.Client
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	factory := informers.NewSharedInformerFactory(client, 0)
	sts, err := statefulset.New(statefulset.Config{Client: client, Informers: factory, Logger: log,
		Recorder: broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "statefulset-controller"})})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ds, err := daemonset.New(daemonset.Config{Client: client, Informers: factory, Logger: log,
		Recorder: broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "daemonset-controller"})})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	factory.Start(ctx.Done())
	go sts.Run(ctx, 5)
	go ds.Run(ctx, 2)
	nodes, err = fakenodes.Start(ctx, client, fakenodes.Options{Nodes: nodeNames, Outcome: func(p *corev1.Pod) fakenodes.Outcome {
		_, h := held.Load(p.Namespace + "/" + p.Name)
		return fakenodes.Outcome{NotReady: h}
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake nodes:", err)
		return 1
	}
	return m.Run()
}

func hold(ns, name string)    { held.Store(ns+"/"+name, true) }
func release(ns, name string) { held.Delete(ns + "/" + name); nodes.Resync() }

var nsCounter atomic.Int64

func namespace(t *testing.T, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, nsCounter.Add(1))
	if _, err := client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// eventually polls cond every 20 ms until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type result struct {
	stdout, stderr string
	code           int
}

// kubectl runs the embedded kubectl of the skiff binary against the test server.
func kubectl(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, skiffBin, append([]string{"kubectl", "--kubeconfig", server.Kubeconfig}, args...)...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "HOME="+home)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("kubectl %v: %v", args, err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// ok runs kubectl and fails the test unless it succeeds.
func ok(t *testing.T, args ...string) string {
	t.Helper()
	r := kubectl(t, args...)
	if r.code != 0 {
		t.Fatalf("kubectl %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}
