package staticpod

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"

	podregistry "github.com/skiff-dev/skiff/internal/apiserver/registry/pod"
)

// Annotations upstream's kubelet puts on pods from a non-API source and on their mirror pods.
const (
	AnnotationSource = "kubernetes.io/config.source"
	AnnotationHash   = "kubernetes.io/config.hash"
	AnnotationMirror = "kubernetes.io/config.mirror"
	AnnotationSeen   = "kubernetes.io/config.seen"
	// SourceFile is the config.source of pods read from the manifest directory.
	SourceFile = "file"
)

// maxManifest bounds what is read of one manifest: a pod fits in far less, and a stray large
// file in the directory must not cost the agent its memory.
const maxManifest = 10 << 20

// IsMirror says whether an API pod is the mirror of a static pod.
func IsMirror(p *v1.Pod) bool {
	_, ok := p.Annotations[AnnotationMirror]
	return ok
}

// IsStatic says whether a pod came from the manifest directory rather than the API.
func IsStatic(p *v1.Pod) bool {
	return p.Annotations[AnnotationSource] == SourceFile
}

// MirrorOf says whether mirror stands for static: same name and the hash of the same content.
func MirrorOf(mirror, static *v1.Pod) bool {
	h, ok := mirror.Annotations[AnnotationMirror]
	return ok && h == static.Annotations[AnnotationHash] &&
		mirror.Namespace == static.Namespace && mirror.Name == static.Name
}

// Read reads every manifest in dir: regular files whose names do not start with a dot, each
// holding one Pod in YAML or JSON. A file that fails is reported in errs and skipped; the others
// are returned sorted by namespace/name. seen gives the config.seen time of a pod by uid (the
// first time it was read), so that re-reading an unchanged file yields the same object.
func Read(dir, nodeName string, seen func(types.UID) time.Time) (pods []*v1.Pod, errs []error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, []error{fmt.Errorf("reading pod manifest path: %w", err)}
	}
	names := map[string]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		info, err := os.Stat(path)
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		data, err := readLimited(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		p, err := Decode(path, data, nodeName)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		key := p.Namespace + "/" + p.Name
		if other, dup := names[key]; dup {
			errs = append(errs, fmt.Errorf("%s: pod %s is already defined by %s", path, key, other))
			continue
		}
		names[key] = path
		if seen != nil {
			p.Annotations[AnnotationSeen] = seen(p.UID).UTC().Format(time.RFC3339Nano)
		}
		pods = append(pods, p)
	}
	sort.Slice(pods, func(i, j int) bool {
		return pods[i].Namespace+"/"+pods[i].Name < pods[j].Namespace+"/"+pods[j].Name
	})
	return pods, errs
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxManifest {
		return nil, fmt.Errorf("manifest larger than %d bytes", maxManifest)
	}
	return b, nil
}

// Decode turns one manifest into the static pod it defines on nodeName: defaulted and
// validated as the API server would, named "<name>-<node>", in namespace default when it names
// none, with a uid from the content, the path and the node (unless the manifest sets one), and
// the config.source and config.hash annotations.
func Decode(path string, data []byte, nodeName string) (*v1.Pod, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty manifest")
	}
	var p v1.Pod
	if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096).Decode(&p); err != nil {
		return nil, fmt.Errorf("decoding pod manifest: %w", err)
	}
	if p.Kind != "Pod" || (p.APIVersion != "v1" && p.APIVersion != "") {
		return nil, fmt.Errorf("want a v1 Pod, got apiVersion %q kind %q", p.APIVersion, p.Kind)
	}
	if p.Name == "" {
		return nil, errors.New("metadata.name is required")
	}
	if p.UID == "" {
		h := sha256.New()
		h.Write(data)
		fmt.Fprintf(h, "\x00host:%s\x00file:%s", nodeName, path)
		p.UID = types.UID(hex.EncodeToString(h.Sum(nil)[:16]))
	}
	p.Name = p.Name + "-" + strings.ToLower(nodeName)
	if p.Namespace == "" {
		p.Namespace = metav1.NamespaceDefault
	}
	p.Spec.NodeName = nodeName
	p.Status = v1.PodStatus{}
	p.ResourceVersion, p.Generation = "", 0
	p.DeletionTimestamp, p.DeletionGracePeriodSeconds = nil, nil
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	delete(p.Annotations, AnnotationMirror)
	p.Annotations[AnnotationSource] = SourceFile
	p.Annotations[AnnotationHash] = string(p.UID)
	podregistry.DefaultPod(&p)
	if errs := podregistry.ValidatePod(&p); len(errs) > 0 {
		return nil, fmt.Errorf("invalid pod: %w", errs.ToAggregate())
	}
	return &p, nil
}

// Mirror is the API object that stands for a static pod: the pod without its uid, annotated
// with its hash and owned by the node (so that the garbage collector removes it with the node).
func Mirror(static *v1.Pod, node *v1.Node) *v1.Pod {
	m := static.DeepCopy()
	m.UID, m.ResourceVersion = "", ""
	m.Status = v1.PodStatus{}
	m.Annotations[AnnotationMirror] = static.Annotations[AnnotationHash]
	m.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID, Controller: ptr.To(true),
	}}
	return m
}
