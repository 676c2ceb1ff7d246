package volume

import (
	"context"
	"fmt"
	"github.com/skiff-dev/skiff/internal/kubelet/downward"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Sources is what the API-backed volumes are read from. The kubelet backs it with informers or
// client-go gets; a missing object must be reported as an API NotFound error
// (apierrors.IsNotFound), which this package turns into a MissingSourceError or, for optional
// sources, an empty projection.
type Sources interface {
	GetConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// MissingSourceError says that a non-optional configMap or secret a volume projects does not
// exist. The kubelet reports it as an event and holds the pod's containers back (upstream shows
// them as CreateContainerConfigError / ContainerCreating until the object appears).
type MissingSourceError struct {
	Kind      string // "configmap" or "secret", as upstream spells them in messages
	Namespace string
	Name      string
}

func (e *MissingSourceError) Error() string { return fmt.Sprintf("%s %q not found", e.Kind, e.Name) }

// MissingKeyError says that an item names a key its non-optional source lacks.
type MissingKeyError struct {
	Kind, Namespace, Name, Key string
}

func (e *MissingKeyError) Error() string {
	if e.Kind == "secret" {
		return fmt.Sprintf("secret %q references non-existent secret key: %s", e.Name, e.Key)
	}
	return fmt.Sprintf("configmap %q references non-existent config key: %s", e.Name, e.Key)
}

// defaultFileMode is the API's default for defaultMode on every projecting volume type.
const defaultFileMode int32 = 0o644

func modeOr(p *int32, def int32) int32 {
	if p != nil {
		return *p
	}
	return def
}

// configMapData fetches a configMap's keys; ok is false when it is absent and optional.
func configMapData(ctx context.Context, src Sources, ns, name string, optional *bool) (map[string][]byte, bool, error) {
	if src == nil {
		return nil, false, fmt.Errorf("configmap %q: no source of configMaps configured", name)
	}
	cm, err := src.GetConfigMap(ctx, ns, name)
	if apierrors.IsNotFound(err) || (err == nil && cm == nil) {
		if optional != nil && *optional {
			return nil, false, nil
		}
		return nil, false, &MissingSourceError{Kind: "configmap", Namespace: ns, Name: name}
	}
	if err != nil {
		return nil, false, fmt.Errorf("get configmap %q: %w", name, err)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data, true, nil
}

func secretData(ctx context.Context, src Sources, ns, name string, optional *bool) (map[string][]byte, bool, error) {
	if src == nil {
		return nil, false, fmt.Errorf("secret %q: no source of secrets configured", name)
	}
	s, err := src.GetSecret(ctx, ns, name)
	if apierrors.IsNotFound(err) || (err == nil && s == nil) {
		if optional != nil && *optional {
			return nil, false, nil
		}
		return nil, false, &MissingSourceError{Kind: "secret", Namespace: ns, Name: name}
	}
	if err != nil {
		return nil, false, fmt.Errorf("get secret %q: %w", name, err)
	}
	data := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		data[k] = v
	}
	// StringData is write-only and folded into Data by the API server; a source that hands it
	// over anyway (a test fixture, a static pod's neighbour) means the same thing.
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return data, true, nil
}

// projectKeys adds data to out: every key as a file of that name, or only items when given.
func projectKeys(out map[string]fileProjection, kind, ns, name string, data map[string][]byte,
	items []corev1.KeyToPath, defaultMode int32, optional *bool) error {
	if len(items) == 0 {
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out[k] = fileProjection{Data: data[k], Mode: defaultMode}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional != nil && *optional {
				continue
			}
			return &MissingKeyError{Kind: kind, Namespace: ns, Name: name, Key: it.Key}
		}
		out[it.Path] = fileProjection{Data: v, Mode: modeOr(it.Mode, defaultMode)}
	}
	return nil
}

func configMapPayload(ctx context.Context, src Sources, pod *corev1.Pod, s *corev1.ConfigMapVolumeSource) (map[string]fileProjection, error) {
	out := map[string]fileProjection{}
	data, ok, err := configMapData(ctx, src, pod.Namespace, s.Name, s.Optional)
	if err != nil || !ok {
		return out, err
	}
	return out, projectKeys(out, "configmap", pod.Namespace, s.Name, data, s.Items, modeOr(s.DefaultMode, defaultFileMode), s.Optional)
}

func secretPayload(ctx context.Context, src Sources, pod *corev1.Pod, s *corev1.SecretVolumeSource) (map[string]fileProjection, error) {
	out := map[string]fileProjection{}
	data, ok, err := secretData(ctx, src, pod.Namespace, s.SecretName, s.Optional)
	if err != nil || !ok {
		return out, err
	}
	return out, projectKeys(out, "secret", pod.Namespace, s.SecretName, data, s.Items, modeOr(s.DefaultMode, defaultFileMode), s.Optional)
}

func downwardAPIPayload(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defaultMode int32, allocatable corev1.ResourceList, out map[string]fileProjection) error {
	for _, it := range items {
		var (
			v   string
			err error
		)
		switch {
		case it.FieldRef != nil:
			v, err = downward.FieldValue(pod, it.FieldRef, nil, nil)
		case it.ResourceFieldRef != nil:
			v, err = downward.ResourceValue(pod, it.ResourceFieldRef, "", allocatable)
		default:
			err = fmt.Errorf("item %q has neither fieldRef nor resourceFieldRef", it.Path)
		}
		if err != nil {
			return fmt.Errorf("downwardAPI %q: %w", it.Path, err)
		}
		out[it.Path] = fileProjection{Data: []byte(v), Mode: modeOr(it.Mode, defaultMode)}
	}
	return nil
}

func projectedPayload(ctx context.Context, src Sources, pod *corev1.Pod, p *corev1.ProjectedVolumeSource, allocatable corev1.ResourceList) (map[string]fileProjection, error) {
	out := map[string]fileProjection{}
	def := modeOr(p.DefaultMode, defaultFileMode)
	for i, s := range p.Sources {
		switch {
		case s.ConfigMap != nil:
			data, ok, err := configMapData(ctx, src, pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Optional)
			if err != nil {
				return nil, err
			}
			if ok {
				if err := projectKeys(out, "configmap", pod.Namespace, s.ConfigMap.Name, data, s.ConfigMap.Items, def, s.ConfigMap.Optional); err != nil {
					return nil, err
				}
			}
		case s.Secret != nil:
			data, ok, err := secretData(ctx, src, pod.Namespace, s.Secret.Name, s.Secret.Optional)
			if err != nil {
				return nil, err
			}
			if ok {
				if err := projectKeys(out, "secret", pod.Namespace, s.Secret.Name, data, s.Secret.Items, def, s.Secret.Optional); err != nil {
					return nil, err
				}
			}
		case s.DownwardAPI != nil:
			if err := downwardAPIPayload(pod, s.DownwardAPI.Items, def, allocatable, out); err != nil {
				return nil, err
			}
		case s.ServiceAccountToken != nil:
			return nil, fmt.Errorf("projected source %d: serviceAccountToken is not supported yet: bound service account tokens come with the security issue", i)
		case s.ClusterTrustBundle != nil:
			return nil, fmt.Errorf("projected source %d: clusterTrustBundle is not supported", i)
		case s.PodCertificate != nil:
			return nil, fmt.Errorf("projected source %d: podCertificate is not supported", i)
		default:
			return nil, fmt.Errorf("projected source %d names no source", i)
		}
	}
	return out, nil
}
