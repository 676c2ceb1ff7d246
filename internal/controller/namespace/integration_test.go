package namespace_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/metadata"

	"github.com/skiff-dev/skiff/internal/controller/namespace"
	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/test/embeddedkubectl"
)

func startController(t *testing.T, s *testserver.Server) {
	t.Helper()
	md, err := metadata.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	f := informers.NewSharedInformerFactory(s.Client, 0)
	level := slog.LevelWarn
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	c, err := namespace.New(namespace.Config{Client: s.Client, Metadata: md, Informers: f,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.Start(ctx.Done())
	go func() { c.Run(ctx, 2); close(done) }()
	t.Cleanup(func() { cancel(); <-done; f.Shutdown() })
}

// kubectl runs the real kubectl in-process against s.
func kubectl(t *testing.T, s *testserver.Server, args ...string) string {
	t.Helper()
	out, _ := embeddedkubectl.Run(t, s.Kubeconfig, args...)
	return out
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fill(t *testing.T, s *testserver.Server, ns string) {
	t.Helper()
	ctx := context.Background()
	cs := s.Client
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		must(cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}}, metav1.CreateOptions{}))
		must(cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s-%d", i)}}, metav1.CreateOptions{}))
		must(cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pending-%d", i)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}))
	}
	must(cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}))
	must(cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sa"}}, metav1.CreateOptions{}))
}

func TestDeleteNamespace(t *testing.T) {
	s := testserver.Start(t)
	startController(t, s)
	ctx := context.Background()

	t.Run("kubectl delete ns empties and removes it", func(t *testing.T) {
		fill(t, s, "team-a")
		start := time.Now()
		out := kubectl(t, s, "delete", "ns", "team-a")
		if !strings.Contains(out, `namespace "team-a" deleted`) {
			t.Errorf("kubectl output %q", out)
		}
		if _, err := s.Client.CoreV1().Namespaces().Get(ctx, "team-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("namespace after kubectl delete returned: %v", err)
		}
		t.Logf("namespace with content deleted in %s", time.Since(start))
		cms, err := s.Client.CoreV1().ConfigMaps("team-a").List(ctx, metav1.ListOptions{})
		if err != nil || len(cms.Items) != 0 {
			t.Errorf("configmaps left: %v %v", cms, err)
		}
	})

	t.Run("a pod on a node waits for its graceful termination", func(t *testing.T) {
		fill(t, s, "team-b")
		grace := int64(2)
		_, err := s.Client.CoreV1().Pods("team-b").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bound"},
			Spec: corev1.PodSpec{NodeName: "no-such-node", TerminationGracePeriodSeconds: &grace,
				Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kubectl(t, s, "delete", "ns", "team-b", "--wait=false")
		var msg string
		eventually(t, 30*time.Second, "NamespaceContentRemaining names the pod", func() bool {
			ns, err := s.Client.CoreV1().Namespaces().Get(ctx, "team-b", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range ns.Status.Conditions {
				if c.Type == corev1.NamespaceContentRemaining && c.Status == corev1.ConditionTrue {
					msg = c.Message
					return true
				}
			}
			return false
		})
		if msg != "Some resources are remaining: pods. has 1 resource instances" {
			t.Errorf("NamespaceContentRemaining message %q", msg)
		}
		// Nothing but the pod remains; no node agent will ever end it.
		pods, err := s.Client.CoreV1().Pods("team-b").List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) != 1 || pods.Items[0].DeletionTimestamp == nil {
			t.Fatalf("pods left: %+v %v", pods, err)
		}
		time.Sleep(3 * time.Second) // past the grace period: still there, namespace still held
		if _, err := s.Client.CoreV1().Namespaces().Get(ctx, "team-b", metav1.GetOptions{}); err != nil {
			t.Fatalf("namespace gone while a pod remains: %v", err)
		}
		// What a node agent does once the containers stopped.
		zero := int64(0)
		if err := s.Client.CoreV1().Pods("team-b").Delete(ctx, "bound", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 90*time.Second, "namespace gone", func() bool {
			_, err := s.Client.CoreV1().Namespaces().Get(ctx, "team-b", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	})

	t.Run("nothing new goes into a terminating namespace", func(t *testing.T) {
		fill(t, s, "team-c")
		finalizer := "example.com/hold"
		_, err := s.Client.CoreV1().ConfigMaps("team-c").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{finalizer}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kubectl(t, s, "delete", "ns", "team-c", "--wait=false")
		eventually(t, 30*time.Second, "NamespaceFinalizersRemaining", func() bool {
			ns, err := s.Client.CoreV1().Namespaces().Get(ctx, "team-c", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range ns.Status.Conditions {
				if c.Type == corev1.NamespaceFinalizersRemaining && c.Status == corev1.ConditionTrue {
					return c.Message == "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
				}
			}
			return false
		})
		_, err = s.Client.CoreV1().ConfigMaps("team-c").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("create in a terminating namespace: %v, want Forbidden", err)
		}
		if _, err := s.Client.CoreV1().ConfigMaps("team-c").Patch(ctx, "held", "application/merge-patch+json",
			[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 90*time.Second, "namespace gone", func() bool {
			_, err := s.Client.CoreV1().Namespaces().Get(ctx, "team-c", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	})
}
