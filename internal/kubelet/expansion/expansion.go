package expansion

import "strings"

// Mapping resolves one reference. ok=false means the name is unknown, and the
// reference stays in the output as written.
type Mapping func(name string) (value string, ok bool)

// MapOf returns a Mapping that consults the maps in order; the first map that
// holds the name wins, mirroring how the kubelet lets a container's own
// variables shadow the service-link ones.
func MapOf(maps ...map[string]string) Mapping {
	return func(name string) (string, bool) {
		for _, m := range maps {
			if v, ok := m[name]; ok {
				return v, true
			}
		}
		return "", false
	}
}

// Expand replaces the references in in. Malformed input is never an error:
// a `$` not followed by `$` or a complete `(...)` is copied through, which is
// what users of upstream Kubernetes have come to rely on.
func Expand(in string, mapping Mapping) string {
	if !strings.Contains(in, "$") {
		return in
	}
	var b strings.Builder
	b.Grow(len(in))
	i := 0
	for i < len(in) {
		c := in[i]
		if c != '$' || i+1 >= len(in) {
			b.WriteByte(c)
			i++
			continue
		}
		switch next := in[i+1]; next {
		case '$':
			b.WriteByte('$')
			i += 2
		case '(':
			end := strings.IndexByte(in[i+2:], ')')
			if end < 0 {
				// Unterminated: emit "$(" and keep scanning after it, so a
				// later well-formed reference in the same string still expands.
				b.WriteString("$(")
				i += 2
				continue
			}
			name := in[i+2 : i+2+end]
			if v, ok := mapping(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(")
				b.WriteString(name)
				b.WriteByte(')')
			}
			i += 2 + end + 1
		default:
			b.WriteByte('$')
			b.WriteByte(next)
			i += 2
		}
	}
	return b.String()
}

// Strings expands every element of in, returning a new slice (nil stays nil).
func Strings(in []string, mapping Mapping) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = Expand(s, mapping)
	}
	return out
}
