package staticpod

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

const webYAML = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: app
    image: busybox:1.36
`

func TestDecode(t *testing.T) {
	tests := []struct {
		name, data string
		wantErr    string
		check      func(t *testing.T, p *v1.Pod)
	}{
		{name: "yaml", data: webYAML, check: func(t *testing.T, p *v1.Pod) {
			if p.Name != "web-node-a" || p.Namespace != "default" || p.Spec.NodeName != "node-a" {
				t.Errorf("identity = %s/%s on %q", p.Namespace, p.Name, p.Spec.NodeName)
			}
			if p.Annotations[AnnotationSource] != "file" || p.Annotations[AnnotationHash] != string(p.UID) || len(p.UID) != 32 {
				t.Errorf("annotations %v uid %q", p.Annotations, p.UID)
			}
			if p.Spec.RestartPolicy != v1.RestartPolicyAlways || p.Spec.Containers[0].ImagePullPolicy != v1.PullIfNotPresent {
				t.Errorf("not defaulted: %+v", p.Spec)
			}
		}},
		{name: "json with namespace", data: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"db","namespace":"kube-system"},"spec":{"containers":[{"name":"c","image":"x:1"}]}}`,
			check: func(t *testing.T, p *v1.Pod) {
				if p.Namespace != "kube-system" || p.Name != "db-node-a" {
					t.Errorf("got %s/%s", p.Namespace, p.Name)
				}
			}},
		{name: "manifest uid kept", data: strings.Replace(webYAML, "name: web\n", "name: web\n  uid: fixed\n", 1),
			check: func(t *testing.T, p *v1.Pod) {
				if p.UID != "fixed" {
					t.Errorf("uid %q", p.UID)
				}
			}},
		{name: "empty", data: "\n", wantErr: "empty manifest"},
		{name: "not a pod", data: "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n", wantErr: "want a v1 Pod"},
		{name: "no name", data: "apiVersion: v1\nkind: Pod\nspec: {containers: [{name: c, image: x}]}\n", wantErr: "metadata.name is required"},
		{name: "invalid", data: "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: []}\n", wantErr: "invalid pod"},
		{name: "garbage", data: "{{{", wantErr: "decoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode("/etc/m/x.yaml", []byte(tt.data), "node-a")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
}

func TestUIDIsDeterministic(t *testing.T) {
	a, _ := Decode("/m/web.yaml", []byte(webYAML), "n1")
	b, _ := Decode("/m/web.yaml", []byte(webYAML), "n1")
	changed, _ := Decode("/m/web.yaml", []byte(strings.Replace(webYAML, "1.36", "1.37", 1)), "n1")
	otherNode, _ := Decode("/m/web.yaml", []byte(webYAML), "n2")
	otherFile, _ := Decode("/m/web2.yaml", []byte(webYAML), "n1")
	if a.UID != b.UID {
		t.Errorf("same content, different uids %s %s", a.UID, b.UID)
	}
	for _, o := range []*v1.Pod{changed, otherNode, otherFile} {
		if o.UID == a.UID {
			t.Errorf("uid %s shared by a different manifest", a.UID)
		}
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("web.yaml", webYAML)
	write("dup.yaml", webYAML)
	write(".hidden.yaml", "garbage")
	write("bad.json", "{")
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	seenAt := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	pods, errs := Read(dir, "n1", func(types.UID) time.Time { return seenAt })
	if len(pods) != 1 || pods[0].Name != "web-n1" {
		t.Fatalf("pods = %v", pods)
	}
	if got := pods[0].Annotations[AnnotationSeen]; got != "2025-01-02T03:04:05.000000006Z" {
		t.Errorf("seen = %q", got)
	}
	if len(errs) != 2 {
		t.Errorf("errs = %v, want the bad file and the duplicate", errs)
	}
	if _, errs := Read(filepath.Join(dir, "nope"), "n1", nil); len(errs) != 1 {
		t.Errorf("missing dir: errs = %v", errs)
	}
}

func TestMirror(t *testing.T) {
	p, _ := Decode("/m/web.yaml", []byte(webYAML), "n1")
	node := &v1.Node{}
	node.Name, node.UID = "n1", "node-uid"
	m := Mirror(p, node)
	if m.UID != "" || !IsMirror(m) || !MirrorOf(m, p) || IsMirror(p) {
		t.Errorf("mirror %+v", m.ObjectMeta)
	}
	if len(m.OwnerReferences) != 1 || m.OwnerReferences[0].Kind != "Node" || m.OwnerReferences[0].UID != "node-uid" {
		t.Errorf("owner %v", m.OwnerReferences)
	}
	if _, ok := p.Annotations[AnnotationMirror]; ok {
		t.Error("Mirror changed the static pod")
	}
	other, _ := Decode("/m/web.yaml", []byte(strings.Replace(webYAML, "1.36", "1.37", 1)), "n1")
	if MirrorOf(m, other) {
		t.Error("a mirror of old content stands for the new")
	}
}
