package pod

import (
	"reflect"
	"strings"
)

// setFields lists the JSON names of the non-nil pointer fields of a "one of" struct (VolumeSource,
// ProbeHandler, EnvVarSource, ...). Reflection keeps the list of members in one place, the API types,
// so a source added upstream is counted without touching this package.
func setFields(oneOf any) []string {
	v := reflect.ValueOf(oneOf).Elem()
	t := v.Type()
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() != reflect.Pointer || f.IsNil() {
			continue
		}
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}
