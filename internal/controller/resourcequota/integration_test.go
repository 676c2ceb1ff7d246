package resourcequota_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"github.com/skiff-dev/skiff/internal/controller/resourcequota"
	"github.com/skiff-dev/skiff/internal/testserver"
)

func TestQuotaTracksUsage(t *testing.T) {
	s := testserver.Start(t)
	cs := s.Client
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f := informers.NewSharedInformerFactory(cs, 0)
	c, err := resourcequota.New(resourcequota.Config{Client: cs, Informers: f, ResyncPeriod: time.Second,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	f.Start(cctx.Done())
	go func() { c.Run(cctx, 2); close(done) }()
	t.Cleanup(func() { cancel(); <-done; f.Shutdown() })

	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
		"pods": resource.MustParse("5"), "requests.cpu": resource.MustParse("2"), "configmaps": resource.MustParse("10")}}}
	if _, err := cs.CoreV1().ResourceQuotas("team").Create(ctx, q, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	used := func() string {
		q, err := cs.CoreV1().ResourceQuotas("team").Get(ctx, "q", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p, cpu, cm := q.Status.Used["pods"], q.Status.Used["requests.cpu"], q.Status.Used["configmaps"]
		return fmt.Sprintf("pods=%s cpu=%s configmaps=%s", p.String(), cpu.String(), cm.String())
	}
	waitUsed := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for used() != want {
			if time.Now().After(deadline) {
				t.Fatalf("used %s, want %s", used(), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The controller re-measures the configmap that existed before it (default's kube-root-ca.crt
	// aside, this namespace has whatever the server put there).
	cms, _ := cs.CoreV1().ConfigMaps("team").List(ctx, metav1.ListOptions{})
	base := len(cms.Items)
	for i := 0; i < 3; i++ {
		_, err := cs.CoreV1().Pods("team").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{"cpu": resource.MustParse("500m")}}}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.CoreV1().ConfigMaps("team").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(fmt.Sprintf("pods=3 cpu=1500m configmaps=%d", base+1))

	// Unscheduled pods go at once; the quota releases them.
	if err := cs.CoreV1().Pods("team").Delete(ctx, "p0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps("team").Delete(ctx, "cm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(fmt.Sprintf("pods=2 cpu=1 configmaps=%d", base))

	// Drift (usage recorded that no object backs): the resync corrects it.
	cur, _ := cs.CoreV1().ResourceQuotas("team").Get(ctx, "q", metav1.GetOptions{})
	cur.Status.Used["pods"] = resource.MustParse("5")
	if _, err := cs.CoreV1().ResourceQuotas("team").UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(fmt.Sprintf("pods=2 cpu=1 configmaps=%d", base))

	// A finished pod holds no compute.
	p, _ := cs.CoreV1().Pods("team").Get(ctx, "p1", metav1.GetOptions{})
	p.Status.Phase = corev1.PodSucceeded
	if _, err := cs.CoreV1().Pods("team").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(fmt.Sprintf("pods=1 cpu=500m configmaps=%d", base))
}
