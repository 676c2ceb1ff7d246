package garbagecollector_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-dev/skiff/internal/controller/garbagecollector"
	"github.com/skiff-dev/skiff/internal/testserver"
)

// cluster is one test server with a running collector.
type cluster struct {
	client kubernetes.Interface
}

func start(t *testing.T) *cluster {
	t.Helper()
	s := testserver.Start(t)
	md, err := metadata.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	factory := metadatainformer.NewSharedInformerFactory(md, 0)
	bc := record.NewBroadcaster()
	bc.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.Client.CoreV1().Events("")})
	level := slog.LevelWarn
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	gc, err := garbagecollector.New(garbagecollector.Config{
		Metadata: md, Discovery: s.Client.Discovery(), Informers: factory,
		Recorder: bc.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "garbage-collector-controller"}),
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { gc.Run(ctx, 5); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
		bc.Shutdown()
	})
	return &cluster{client: s.Client}
}

func (c *cluster) namespace(t *testing.T, name string) {
	t.Helper()
	if _, err := c.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func ownedBy(owner metav1.Object, kind string, block bool) metav1.OwnerReference {
	apiVersion := "v1"
	if kind == "ClusterRole" {
		apiVersion = "rbac.authorization.k8s.io/v1"
	}
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: owner.GetName(), UID: owner.GetUID(), BlockOwnerDeletion: &block}
}

func (c *cluster) configMap(t *testing.T, ns, name string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	t.Helper()
	cm, err := c.client.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func (c *cluster) gone(ns, name string) bool {
	_, err := c.client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	return apierrors.IsNotFound(err)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stays checks cond holds for a while: long enough for the collector to have acted if it wanted to.
func stays(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if !cond() {
			t.Fatalf("no longer true: %s", what)
		}
	}
}

// deletions records the order in which configmaps of ns are deleted.
func deletions(t *testing.T, c *cluster, ns string) func() []string {
	t.Helper()
	w, err := c.client.CoreV1().ConfigMaps(ns).Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	var mu sync.Mutex
	var order []string
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Deleted {
				mu.Lock()
				order = append(order, ev.Object.(*corev1.ConfigMap).Name)
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(order)
	}
}

func del(t *testing.T, c *cluster, ns, name string, policy metav1.DeletionPropagation) {
	t.Helper()
	if err := c.client.CoreV1().ConfigMaps(ns).Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		t.Fatal(err)
	}
}

func TestPropagation(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	const ns = "default"

	t.Run("background", func(t *testing.T) {
		owner := c.configMap(t, ns, "bg-owner")
		c.configMap(t, ns, "bg-dep", ownedBy(owner, "ConfigMap", false))
		other := c.configMap(t, ns, "bg-other-owner")
		c.configMap(t, ns, "bg-two-owners", ownedBy(owner, "ConfigMap", false), ownedBy(other, "ConfigMap", false))
		del(t, c, ns, "bg-owner", metav1.DeletePropagationBackground)
		eventually(t, "dependent collected", func() bool { return c.gone(ns, "bg-dep") })
		// The one with a remaining owner stays, without the reference to the gone owner.
		eventually(t, "reference to the gone owner dropped", func() bool {
			cm, err := c.client.CoreV1().ConfigMaps(ns).Get(ctx, "bg-two-owners", metav1.GetOptions{})
			return err == nil && len(cm.OwnerReferences) == 1 && cm.OwnerReferences[0].UID == other.UID
		})
	})

	t.Run("foreground", func(t *testing.T) {
		order := deletions(t, c, ns)
		owner := c.configMap(t, ns, "fg-owner")
		c.configMap(t, ns, "fg-dep", ownedBy(owner, "ConfigMap", true))
		del(t, c, ns, "fg-owner", metav1.DeletePropagationForeground)
		eventually(t, "owner and dependent gone", func() bool { return c.gone(ns, "fg-owner") && c.gone(ns, "fg-dep") })
		eventually(t, "deletions seen", func() bool { return len(order()) == 2 })
		if got := order(); !slices.Equal(got, []string{"fg-dep", "fg-owner"}) {
			t.Errorf("deletion order = %v, want dependent first", got)
		}
	})

	t.Run("orphan", func(t *testing.T) {
		owner := c.configMap(t, ns, "or-owner")
		c.configMap(t, ns, "or-dep", ownedBy(owner, "ConfigMap", true))
		del(t, c, ns, "or-owner", metav1.DeletePropagationOrphan)
		eventually(t, "owner gone", func() bool { return c.gone(ns, "or-owner") })
		cm, err := c.client.CoreV1().ConfigMaps(ns).Get(ctx, "or-dep", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("orphaned dependent: %v", err)
		}
		if len(cm.OwnerReferences) != 0 {
			t.Errorf("orphaned dependent still has owners %v", cm.OwnerReferences)
		}
	})

	t.Run("foreground chain with blockOwnerDeletion", func(t *testing.T) {
		order := deletions(t, c, ns)
		a := c.configMap(t, ns, "chain-a")
		b := c.configMap(t, ns, "chain-b", ownedBy(a, "ConfigMap", true))
		c.configMap(t, ns, "chain-c", ownedBy(b, "ConfigMap", true))
		del(t, c, ns, "chain-a", metav1.DeletePropagationForeground)
		// While c exists, a and b stay, marked for deletion.
		eventually(t, "b deleting in foreground", func() bool {
			cm, err := c.client.CoreV1().ConfigMaps(ns).Get(ctx, "chain-b", metav1.GetOptions{})
			return err != nil || cm.DeletionTimestamp != nil
		})
		eventually(t, "chain gone", func() bool {
			return c.gone(ns, "chain-a") && c.gone(ns, "chain-b") && c.gone(ns, "chain-c")
		})
		eventually(t, "deletions seen", func() bool { return len(order()) == 3 })
		if got := order(); !slices.Equal(got, []string{"chain-c", "chain-b", "chain-a"}) {
			t.Errorf("deletion order = %v, want c, b, a", got)
		}
	})

	t.Run("foreground without blocking dependents", func(t *testing.T) {
		owner := c.configMap(t, ns, "nb-owner")
		c.configMap(t, ns, "nb-dep", ownedBy(owner, "ConfigMap", false))
		del(t, c, ns, "nb-owner", metav1.DeletePropagationForeground)
		eventually(t, "both gone", func() bool { return c.gone(ns, "nb-owner") && c.gone(ns, "nb-dep") })
	})

	t.Run("owner that never existed", func(t *testing.T) {
		c.configMap(t, ns, "ghost-dep", metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "ghost", UID: types.UID("0b0e6c1e-0000-4000-8000-000000000001")})
		eventually(t, "dependent of a ghost collected", func() bool { return c.gone(ns, "ghost-dep") })
	})

	t.Run("owner replaced by a namesake", func(t *testing.T) {
		owner := c.configMap(t, ns, "re-owner")
		ref := ownedBy(owner, "ConfigMap", false)
		del(t, c, ns, "re-owner", metav1.DeletePropagationBackground)
		c.configMap(t, ns, "re-owner") // same name, another uid
		c.configMap(t, ns, "re-dep", ref)
		eventually(t, "dependent of the old owner collected", func() bool { return c.gone(ns, "re-dep") })
	})

	t.Run("live owner keeps its dependent", func(t *testing.T) {
		owner := c.configMap(t, ns, "live-owner")
		c.configMap(t, ns, "live-dep", ownedBy(owner, "ConfigMap", false))
		stays(t, "dependent of a live owner kept", func() bool { return !c.gone(ns, "live-dep") })
	})
}

func TestNamespaces(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	c.namespace(t, "ns-a")
	c.namespace(t, "ns-b")

	t.Run("owner in another namespace", func(t *testing.T) {
		owner := c.configMap(t, "ns-a", "owner")
		c.configMap(t, "ns-b", "cross-dep", ownedBy(owner, "ConfigMap", false))
		eventually(t, "cross-namespace dependent collected", func() bool { return c.gone("ns-b", "cross-dep") })
		if c.gone("ns-a", "owner") {
			t.Fatal("the owner itself was deleted")
		}
		eventually(t, "OwnerRefInvalidNamespace event", func() bool { return hasEvent(t, c, "ns-b", "cross-dep") })
	})

	t.Run("cluster-scoped owner of a namespaced dependent", func(t *testing.T) {
		owner, err := c.client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "gc-owner"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c.configMap(t, "ns-a", "cr-dep", ownedBy(owner, "ClusterRole", false))
		stays(t, "dependent of a live cluster-scoped owner kept", func() bool { return !c.gone("ns-a", "cr-dep") })
		if err := c.client.RbacV1().ClusterRoles().Delete(ctx, "gc-owner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "dependent collected with its cluster-scoped owner", func() bool { return c.gone("ns-a", "cr-dep") })
	})

	t.Run("namespaced owner kind of a cluster-scoped dependent", func(t *testing.T) {
		owner := c.configMap(t, "ns-a", "cm-owner")
		_, err := c.client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "gc-dep",
			OwnerReferences: []metav1.OwnerReference{ownedBy(owner, "ConfigMap", false)}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "OwnerRefInvalidNamespace event", func() bool { return hasEvent(t, c, "default", "gc-dep") })
		stays(t, "unresolvable dependent kept", func() bool {
			_, err := c.client.RbacV1().ClusterRoles().Get(ctx, "gc-dep", metav1.GetOptions{})
			return err == nil
		})
	})
}

func hasEvent(t *testing.T, c *cluster, ns, name string) bool {
	t.Helper()
	evs, err := c.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.InvolvedObject.Name == name && e.Reason == garbagecollector.ReasonOwnerRefInvalidNamespace && e.Type == corev1.EventTypeWarning {
			return true
		}
	}
	return false
}

// TestManyDependents checks the collector keeps up with one owner of many dependents.
func TestManyDependents(t *testing.T) {
	c := start(t)
	owner := c.configMap(t, "default", "many-owner")
	for i := 0; i < 200; i++ {
		c.configMap(t, "default", fmt.Sprintf("many-%d", i), ownedBy(owner, "ConfigMap", false))
	}
	del(t, c, "default", "many-owner", metav1.DeletePropagationBackground)
	eventually(t, "all collected", func() bool {
		l, err := c.client.CoreV1().ConfigMaps("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cm := range l.Items {
			if len(cm.OwnerReferences) > 0 {
				return false
			}
		}
		return true
	})
}
