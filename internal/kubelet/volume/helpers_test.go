package volume

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// fakeSources is an in-memory Sources; tests change it between Update calls.
type fakeSources struct {
	mu         sync.Mutex
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

func newFakeSources() *fakeSources {
	return &fakeSources{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
}

func (f *fakeSources) GetConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cm, ok := f.configMaps[ns+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
	}
	return cm.DeepCopy(), nil
}

func (f *fakeSources) GetSecret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.secrets[ns+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
	}
	return s.DeepCopy(), nil
}

func (f *fakeSources) putConfigMap(ns, name string, data map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.configMaps[ns+"/"+name] = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

func (f *fakeSources) putSecret(ns, name string, data map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	f.secrets[ns+"/"+name] = s
}

func (f *fakeSources) deleteConfigMap(ns, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.configMaps, ns+"/"+name)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
}

var testAllocatable = corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("4"),
	corev1.ResourceMemory: resource.MustParse("8Gi"),
}

// newManager gives a manager on a fresh data dir whose pods are torn down when the test ends,
// before the directory itself goes, so that a failing test leaves no mount behind.
func newManager(t *testing.T, src Sources, plugins ...Plugin) *Manager {
	t.Helper()
	m, err := New(Config{
		DataDir:     t.TempDir(),
		Sources:     src,
		Allocatable: func() corev1.ResourceList { return testAllocatable },
		Plugins:     plugins,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		uids, _ := m.PodUIDs()
		for _, uid := range uids {
			if err := m.TearDown(context.Background(), uid); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return m
}

func testPod(uid string, vols ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: types.UID(uid),
			Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec: corev1.PodSpec{
			NodeName: "node-a", ServiceAccountName: "sa1",
			Containers: []corev1.Container{{Name: "c1"}},
			Volumes:    vols,
		},
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// listFiles lists the user-visible files of a projected volume (through its symlinks).
func listFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	data := filepath.Join(dir, dataLink)
	err := filepath.WalkDir(data+"/", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(data, p)
		out[rel] = readFile(t, filepath.Join(dir, rel))
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

func ptr[T any](v T) *T { return &v }
