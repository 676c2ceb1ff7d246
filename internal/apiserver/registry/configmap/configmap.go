package configmap

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// MaxSize is the ceiling on the summed size of keys and values, as upstream (etcd's request limit
// is not much larger).
const MaxSize = 1 * 1024 * 1024

// Strategy returns the ConfigMap strategy.
func Strategy() registry.Strategy {
	return registry.Typed[*corev1.ConfigMap]{
		Validate:       Validate,
		ValidateUpdate: ValidateUpdate,
	}.Strategy()
}

// Validate checks key names, that no key is in both data and binaryData, and the total size.
func Validate(cm *corev1.ConfigMap) field.ErrorList {
	var errs field.ErrorList
	size := 0
	for key, value := range cm.Data {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(field.NewPath("data").Key(key), key, msg))
		}
		if _, dup := cm.BinaryData[key]; dup {
			errs = append(errs, field.Invalid(field.NewPath("data").Key(key), key, "duplicate of key present in binaryData"))
		}
		size += len(key) + len(value)
	}
	for key, value := range cm.BinaryData {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(field.NewPath("binaryData").Key(key), key, msg))
		}
		size += len(key) + len(value)
	}
	if size > MaxSize {
		errs = append(errs, field.TooLong(field.NewPath("data"), "", MaxSize))
	}
	return errs
}

// ValidateUpdate adds the immutability rule: once `immutable: true` is stored, neither the flag nor
// the data may change.
func ValidateUpdate(cm, old *corev1.ConfigMap) field.ErrorList {
	errs := Validate(cm)
	if old.Immutable != nil && *old.Immutable {
		if cm.Immutable == nil || !*cm.Immutable {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
		}
		if !reflect.DeepEqual(normalize(cm.Data), normalize(old.Data)) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
		}
		if !reflect.DeepEqual(normalizeBytes(cm.BinaryData), normalizeBytes(old.BinaryData)) {
			errs = append(errs, field.Forbidden(field.NewPath("binaryData"), "field is immutable when `immutable` is set"))
		}
	}
	return errs
}

// normalize treats an empty map and a nil map alike: a JSON round trip can turn one into the other.
func normalize(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func normalizeBytes(m map[string][]byte) map[string][]byte {
	if len(m) == 0 {
		return nil
	}
	return m
}
