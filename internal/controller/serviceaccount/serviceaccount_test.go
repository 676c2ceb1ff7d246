package serviceaccount

import (
	"context"
	"io"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestSync(t *testing.T) {
	now := metav1.Now()
	active := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	terminating := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", DeletionTimestamp: &now},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	existing := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "default", Labels: map[string]string{"keep": "me"}}}
	cases := []struct {
		name        string
		ns          *corev1.Namespace
		accounts    []*corev1.ServiceAccount
		wantCreate  bool
		wantAccount bool
	}{
		{name: "new namespace gets default", ns: active, wantCreate: true, wantAccount: true},
		{name: "existing account left alone", ns: active, accounts: []*corev1.ServiceAccount{existing}, wantAccount: true},
		{name: "terminating namespace gets nothing", ns: terminating},
		{name: "namespace gone", ns: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			for _, a := range tc.accounts {
				objs = append(objs, a)
			}
			if tc.ns != nil {
				objs = append(objs, tc.ns)
			}
			cs := fake.NewClientset(objs...)
			f := informers.NewSharedInformerFactory(cs, 0)
			c, err := New(Config{Client: cs, Informers: f, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if tc.ns != nil {
				f.Core().V1().Namespaces().Informer().GetIndexer().Add(tc.ns)
			}
			for _, a := range tc.accounts {
				f.Core().V1().ServiceAccounts().Informer().GetIndexer().Add(a)
			}
			cs.ClearActions()
			if err := c.sync(context.Background(), "ns"); err != nil {
				t.Fatalf("sync: %v", err)
			}
			created := 0
			for _, a := range cs.Actions() {
				if a.GetVerb() == "create" {
					created++
				}
			}
			if (created == 1) != tc.wantCreate || created > 1 {
				t.Errorf("creates = %d, want create %v", created, tc.wantCreate)
			}
			sa, err := cs.CoreV1().ServiceAccounts("ns").Get(context.Background(), "default", metav1.GetOptions{})
			if (err == nil) != tc.wantAccount {
				t.Fatalf("get default: %v, want present %v", err, tc.wantAccount)
			}
			if len(tc.accounts) > 0 && sa.Labels["keep"] != "me" {
				t.Errorf("existing account changed: %v", sa.Labels)
			}
		})
	}
}
