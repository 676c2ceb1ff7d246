// Package secret is the strategy for core/v1 Secrets: the Opaque type default, folding stringData
// into data, the keys each well-known type requires, key names, the 1 MiB size ceiling, the immutable
// type and the `immutable` flag, and the `type` field selector.
//
// It must never log, echo or put secret values into error messages: errors name the key and redact
// the content.
package secret
