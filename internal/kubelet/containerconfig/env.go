package containerconfig

import (
	"fmt"
	"github.com/skiff-dev/skiff/internal/kubelet/downward"
	"maps"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/skiff-dev/skiff/internal/kubelet/expansion"
)

type kv struct{ name, value string }

// envList keeps insertion order while letting a later definition replace an
// earlier one in place, as runtimes merge container env over image env.
type envList struct {
	items []kv
	index map[string]int
}

func (l *envList) set(name, value string) {
	if l.index == nil {
		l.index = map[string]int{}
	}
	if i, ok := l.index[name]; ok {
		l.items[i].value = value
		return
	}
	l.index[name] = len(l.items)
	l.items = append(l.items, kv{name, value})
}

func (l *envList) lookup(name string) (string, bool) {
	i, ok := l.index[name]
	if !ok {
		return "", false
	}
	return l.items[i].value, true
}

// mergeEnv puts the kubelet's variables over the image's.
func mergeEnv(image []string, kube []kv) []string {
	var l envList
	for _, e := range image {
		name, value, _ := strings.Cut(e, "=")
		if name != "" {
			l.set(name, value)
		}
	}
	for _, e := range kube {
		l.set(e.name, e.value)
	}
	out := make([]string, len(l.items))
	for i, e := range l.items {
		out[i] = e.name + "=" + e.value
	}
	return out
}

// The kubelet's caches report missing objects with the singular resource
// name, which is the message users know (`configmap "x" not found`).
func notFound(err error, resource, name string) error {
	if apierrors.IsNotFound(err) {
		return apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
	}
	return err
}

type sourceCache struct {
	in         *Input
	configMaps map[string]*v1.ConfigMap
	secrets    map[string]*v1.Secret
}

// configMap returns nil, nil for a missing optional object.
func (s *sourceCache) configMap(name string, optional bool) (*v1.ConfigMap, error) {
	if cm, ok := s.configMaps[name]; ok {
		return cm, nil
	}
	if s.in.Sources == nil {
		return nil, fmt.Errorf("no source for configmap %q", name)
	}
	cm, err := s.in.Sources.GetConfigMap(s.in.Pod.Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return nil, nil
		}
		return nil, notFound(err, "configmap", name)
	}
	s.configMaps[name] = cm
	return cm, nil
}

func (s *sourceCache) secret(name string, optional bool) (*v1.Secret, error) {
	if sec, ok := s.secrets[name]; ok {
		return sec, nil
	}
	if s.in.Sources == nil {
		return nil, fmt.Errorf("no source for secret %q", name)
	}
	sec, err := s.in.Sources.GetSecret(s.in.Pod.Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return nil, nil
		}
		return nil, notFound(err, "secret", name)
	}
	s.secrets[name] = sec
	return sec, nil
}

// validEnvName follows the relaxed rule upstream made the default (any
// printable ASCII but '='), which is what the API server accepts in env.
func validEnvName(name string) bool {
	return len(validation.IsRelaxedEnvVarName(name)) == 0
}

// makeEnv computes the kubelet-side variables in precedence order: service
// links, envFrom, env. $(VAR) in env values sees envFrom and earlier env
// entries first, then service links; values from references are literal.
func makeEnv(in *Input) ([]kv, []Warning, error) {
	pod, c := in.Pod, in.Container
	var service map[string]string
	if in.ServiceEnv != nil {
		var err error
		if service, err = in.ServiceEnv(pod); err != nil {
			return nil, nil, err
		}
	}
	src := &sourceCache{in: in, configMaps: map[string]*v1.ConfigMap{}, secrets: map[string]*v1.Secret{}}
	var own envList // envFrom + env
	var warnings []Warning

	for _, ef := range c.EnvFrom {
		var (
			data map[string]string
			kind string
			name string
		)
		switch {
		case ef.ConfigMapRef != nil:
			name, kind = ef.ConfigMapRef.Name, "configMap"
			cm, err := src.configMap(name, ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional)
			if err != nil {
				return nil, nil, err
			}
			if cm == nil {
				continue
			}
			data = cm.Data
		case ef.SecretRef != nil:
			name, kind = ef.SecretRef.Name, "secret"
			sec, err := src.secret(name, ef.SecretRef.Optional != nil && *ef.SecretRef.Optional)
			if err != nil {
				return nil, nil, err
			}
			if sec == nil {
				continue
			}
			data = make(map[string]string, len(sec.Data))
			for k, v := range sec.Data {
				data[k] = string(v)
			}
		default:
			continue
		}
		var invalid []string
		for _, k := range slices.Sorted(maps.Keys(data)) {
			full := ef.Prefix + k
			if !validEnvName(full) {
				invalid = append(invalid, full)
				continue
			}
			own.set(full, data[k])
		}
		if len(invalid) > 0 {
			warnings = append(warnings, Warning{Reason: ReasonInvalidEnvironmentVariableNames,
				Message: fmt.Sprintf("Keys [%s] from the EnvFrom %s %s/%s were skipped since they are considered invalid environment variable names.",
					strings.Join(invalid, ", "), kind, pod.Namespace, name)})
		}
	}

	mapping := func(name string) (string, bool) {
		if v, ok := own.lookup(name); ok {
			return v, true
		}
		v, ok := service[name]
		return v, ok
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			own.set(e.Name, expansion.Expand(e.Value, mapping))
			continue
		}
		vf := e.ValueFrom
		switch {
		case vf.ConfigMapKeyRef != nil:
			ref := vf.ConfigMapKeyRef
			optional := ref.Optional != nil && *ref.Optional
			cm, err := src.configMap(ref.Name, optional)
			if err != nil {
				return nil, nil, err
			}
			if cm == nil {
				continue
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, nil, fmt.Errorf("couldn't find key %v in ConfigMap %v/%v", ref.Key, pod.Namespace, ref.Name)
			}
			own.set(e.Name, v)
		case vf.SecretKeyRef != nil:
			ref := vf.SecretKeyRef
			optional := ref.Optional != nil && *ref.Optional
			sec, err := src.secret(ref.Name, optional)
			if err != nil {
				return nil, nil, err
			}
			if sec == nil {
				continue
			}
			v, ok := sec.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, nil, fmt.Errorf("couldn't find key %v in Secret %v/%v", ref.Key, pod.Namespace, ref.Name)
			}
			own.set(e.Name, string(v))
		case vf.FieldRef != nil:
			v, err := downward.FieldValue(pod, vf.FieldRef, in.PodIPs, in.HostIPs)
			if err != nil {
				return nil, nil, err
			}
			own.set(e.Name, v)
		case vf.ResourceFieldRef != nil:
			v, err := downward.ResourceValue(pod, vf.ResourceFieldRef, c.Name, in.NodeAllocatable)
			if err != nil {
				return nil, nil, err
			}
			own.set(e.Name, v)
		default:
			own.set(e.Name, "")
		}
	}

	var all envList
	for _, k := range slices.Sorted(maps.Keys(service)) {
		all.set(k, service[k])
	}
	for _, e := range own.items {
		all.set(e.name, e.value)
	}
	return all.items, warnings, nil
}
