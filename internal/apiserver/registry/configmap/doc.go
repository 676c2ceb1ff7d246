// Package configmap is the strategy for core/v1 ConfigMaps: key names, the 1 MiB size ceiling and
// the `immutable` flag that freezes data once set.
//
// It must never interpret the data it holds: consumers (the kubelet's volume and env code) own that.
package configmap
