package integration

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// listCounter counts plain (non-watch) list requests for configmaps.
type listCounter struct {
	rt    http.RoundTripper
	lists atomic.Int64
}

func (c *listCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	q := r.URL.Query()
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/configmaps") && q.Get("watch") != "true" && q.Get("watch") != "1" {
		c.lists.Add(1)
	}
	return c.rt.RoundTrip(r)
}

// TestInformerSeesBurst runs a shared informer over configmaps of three namespaces through a burst
// of 500 writes: it must see every change, end equal to a fresh list, and never relist.
func TestInformerSeesBurst(t *testing.T) {
	e := newEnv(t)
	nss := []string{e.ns, e.namespace(), e.namespace()}
	counter := &listCounter{}
	cfg := *e.cfg
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { counter.rt = rt; return counter })
	cs, err := kubernetes.NewForConfig(&cfg)
	must(t, err)
	const label = "burst"
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = label + "=" + e.ns
	}))
	inf := factory.Core().V1().ConfigMaps().Informer()
	var mu sync.Mutex
	adds, updates, deletes := map[string]int{}, map[string]int{}, map[string]int{}
	key := func(obj interface{}) string {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			return "unknown:" + d.Key
		}
		c := obj.(*corev1.ConfigMap)
		return c.Namespace + "/" + c.Name
	}
	_, err = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { mu.Lock(); adds[key(obj)]++; mu.Unlock() },
		UpdateFunc: func(old, obj interface{}) {
			if old.(*corev1.ConfigMap).ResourceVersion == obj.(*corev1.ConfigMap).ResourceVersion {
				return
			}
			mu.Lock()
			updates[key(obj)]++
			mu.Unlock()
		},
		DeleteFunc: func(obj interface{}) { mu.Lock(); deletes[key(obj)]++; mu.Unlock() },
	})
	must(t, err)
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	if !cache.WaitForCacheSync(stop, inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	listsAfterSync := counter.lists.Load()

	// 500 writes: 200 creates, 200 updates, 100 deletes, spread over the namespaces.
	var wg sync.WaitGroup
	errs := make(chan error, 500)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < 200; i += 4 {
				ns := nss[i%3]
				name := fmt.Sprintf("b-%03d", i)
				c, err := cs.CoreV1().ConfigMaps(ns).Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name,
					Labels: map[string]string{label: e.ns}}}, metav1.CreateOptions{})
				if err != nil {
					errs <- err
					continue
				}
				c.Data = map[string]string{"v": "1"}
				if _, err := cs.CoreV1().ConfigMaps(ns).Update(e.ctx, c, metav1.UpdateOptions{}); err != nil {
					errs <- err
				}
				if i%2 == 0 {
					if err := cs.CoreV1().ConfigMaps(ns).Delete(e.ctx, name, metav1.DeleteOptions{}); err != nil {
						errs <- err
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	fresh := map[string]string{}
	for _, ns := range nss {
		l, err := e.cs.CoreV1().ConfigMaps(ns).List(e.ctx, metav1.ListOptions{LabelSelector: label + "=" + e.ns})
		must(t, err)
		for _, c := range l.Items {
			fresh[c.Namespace+"/"+c.Name] = c.ResourceVersion
		}
	}
	if len(fresh) != 100 {
		t.Fatalf("fresh list has %d objects, want 100", len(fresh))
	}
	storeState := func() map[string]string {
		out := map[string]string{}
		for _, o := range inf.GetStore().List() {
			c := o.(*corev1.ConfigMap)
			out[c.Namespace+"/"+c.Name] = c.ResourceVersion
		}
		return out
	}
	eventually(t, 20*time.Second, "the informer store to match a fresh list", func() bool {
		got := storeState()
		if len(got) != len(fresh) {
			return false
		}
		for k, v := range fresh {
			if got[k] != v {
				return false
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return len(deletes) == 100
	})
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < 200; i++ {
		k := fmt.Sprintf("%s/b-%03d", nss[i%3], i)
		if adds[k] != 1 || updates[k] != 1 {
			t.Fatalf("%s: %d adds, %d updates; want 1 each", k, adds[k], updates[k])
		}
		if want := 1 - i%2; deletes[k] != want {
			t.Fatalf("%s: %d deletes, want %d", k, deletes[k], want)
		}
	}
	for k := range deletes {
		if strings.HasPrefix(k, "unknown:") {
			t.Fatalf("a delete was inferred from a relist (%s), not seen", k)
		}
	}
	if n := counter.lists.Load(); n != listsAfterSync {
		t.Fatalf("the informer listed %d more times during the burst: it relisted", n-listsAfterSync)
	}
	t.Logf("list requests: %d (0 means the initial sync used a streaming watch)", listsAfterSync)
}
