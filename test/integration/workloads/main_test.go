package workloads

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/test/fakenodes"
)

var (
	shared *testserver.Server
	home   string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	s, err := testserver.StartWithControllers(testserver.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test server:", err)
		return 1
	}
	defer s.Stop()
	shared = s
	tmp, err := os.MkdirTemp("", "skiff-workloads-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	home = tmp
	return m.Run()
}

var nsCounter atomic.Int64

// namespace makes a namespace for one test with a fake node serving its pods; ready decides which
// pods become Ready (nil: all).
func namespace(t *testing.T, ready func(*corev1.Pod) bool) (context.Context, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	name := fmt.Sprintf("wl-%d-%s", nsCounter.Add(1), strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))
	if len(name) > 60 {
		name = name[:60]
	}
	name = strings.TrimRight(name, "-")
	if _, err := shared.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = shared.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	var outcome func(*corev1.Pod) fakenodes.Outcome
	if ready != nil {
		outcome = func(p *corev1.Pod) fakenodes.Outcome { return fakenodes.Outcome{NotReady: !ready(p)} }
	}
	if _, err := fakenodes.Start(ctx, shared.Client, fakenodes.Options{Nodes: []string{"node-" + name}, Namespaces: []string{name}, Outcome: outcome}); err != nil {
		t.Fatal(err)
	}
	return ctx, name
}

// kubectlMu serialises in-process kubectl runs: kubectl keeps global state (fatal handler, flags).
var kubectlMu sync.Mutex

type fatal struct {
	msg  string
	code int
}

// kubectl runs the embedded kubectl in-process against the shared server.
func kubectl(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	kubectlMu.Lock()
	defer kubectlMu.Unlock()
	var out, errOut bytes.Buffer
	cmdutil.BehaviorOnFatal(func(msg string, c int) { panic(fatal{msg, c}) })
	defer cmdutil.DefaultBehaviorOnFatal()
	flags := genericclioptions.NewConfigFlags(true)
	cache := filepath.Join(home, "cache")
	flags.CacheDir = &cache
	full := append([]string{"--kubeconfig", shared.Kubeconfig}, args...)
	kc := kubectlcmd.NewDefaultKubectlCommandWithArgs(kubectlcmd.KubectlOptions{
		Arguments: append([]string{"kubectl"}, full...), ConfigFlags: flags,
		IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
	})
	kc.SetArgs(full)
	kc.SetOut(&out)
	kc.SetErr(&errOut)
	func() {
		defer func() {
			if r := recover(); r != nil {
				f, ok := r.(fatal)
				if !ok {
					panic(r)
				}
				errOut.WriteString(f.msg)
				code = f.code
			}
		}()
		if err := kc.Execute(); err != nil {
			errOut.WriteString(err.Error())
			code = 1
		}
	}()
	return out.String(), errOut.String(), code
}

func mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := kubectl(t, args...)
	if code != 0 {
		t.Fatalf("kubectl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// eventually polls cond every 50 ms until it holds or the test's context ends.
func eventually(ctx context.Context, t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: %v (last error: %v)", what, err, last)
	}
}
