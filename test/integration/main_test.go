package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/skiff-dev/skiff/internal/server"
	"github.com/skiff-dev/skiff/internal/testserver"
)

// shared is the server most tests use; each test works in namespaces of its own so that tests
// cannot see each other's objects. Tests that change server-wide state (compaction, a tiny watch
// window) start their own.
var shared *testserver.Server

// bookmarkInterval is the shared server's: short, so that bookmark tests finish quickly.
const bookmarkInterval = time.Second

func TestMain(m *testing.M) {
	s, err := testserver.StartServer(testserver.Options{Mutate: func(c *server.Config) {
		c.BookmarkInterval = bookmarkInterval
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the shared test server:", err)
		os.Exit(1)
	}
	shared = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

// env is a test's view of the shared server: clients and a fresh namespace.
type env struct {
	t    *testing.T
	ctx  context.Context
	srv  *testserver.Server
	cs   kubernetes.Interface
	dyn  dynamic.Interface
	meta metadata.Interface
	cfg  *rest.Config
	ns   string
}

var nsCounter atomic.Int64

// newEnv returns clients of the shared server and a namespace that only this test uses.
func newEnv(t *testing.T) *env {
	t.Helper()
	return envFor(t, sharedServer(t))
}

func sharedServer(t testing.TB) *testserver.Server {
	if shared == nil {
		t.Fatal("shared server not started")
	}
	return shared
}

func envFor(t *testing.T, s *testserver.Server) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, srv: s, cs: s.Client, cfg: rest.CopyConfig(s.Config)}
	var err error
	if e.dyn, err = dynamic.NewForConfig(e.cfg); err != nil {
		t.Fatal(err)
	}
	if e.meta, err = metadata.NewForConfig(e.cfg); err != nil {
		t.Fatal(err)
	}
	e.ns = e.namespace()
	return e
}

// namespace creates a new namespace named after the test.
func (e *env) namespace() string {
	e.t.Helper()
	name := strings.ToLower(e.t.Name())
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, name)
	if len(name) > 40 {
		name = name[:40]
	}
	name = strings.Trim(name, "-") + fmt.Sprintf("-%d", nsCounter.Add(1))
	_, err := e.cs.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}

// must fails the test on err.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantStatus checks that err is an API error with the code and reason given.
func wantStatus(t testing.TB, err error, code int32, reason metav1.StatusReason) *metav1.Status {
	t.Helper()
	if err == nil {
		t.Fatalf("want %d %s, got success", code, reason)
	}
	se, ok := err.(apierrors.APIStatus)
	if !ok {
		t.Fatalf("want %d %s, got non-API error %T: %v", code, reason, err, err)
	}
	st := se.Status()
	if st.Code != code || st.Reason != reason {
		t.Fatalf("want %d %s, got %d %s: %s", code, reason, st.Code, st.Reason, st.Message)
	}
	return &st
}

// wantCause checks that st has a cause of type typ on field.
func wantCause(t testing.TB, st *metav1.Status, typ metav1.CauseType, field string) {
	t.Helper()
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			if c.Type == typ && c.Field == field {
				return
			}
		}
	}
	var got []string
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			got = append(got, string(c.Type)+" "+c.Field)
		}
	}
	t.Fatalf("want cause %s on %s, got %v (%s)", typ, field, got, st.Message)
}

func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }
