// Package expansion owns the Kubernetes `$(VAR)` reference syntax used in a
// container's command, args, env values and volume mount subPathExpr: `$(NAME)`
// is replaced by NAME's value, `$$` is an escaped `$`, and a reference to a
// name the mapping does not know is left verbatim so users can see it. It is
// pure string work: it must never read the environment of the process, the
// API, or anything else; callers hand it the mapping.
package expansion
