// Package shim owns the small processes that skiff's runtime leaves on the host: the per-container
// shim (parent of the container's init, holder of its stdout/stderr pipes and of its stdin pipe or
// terminal, writer of its CRI log and of its exit status, relay of attach sessions, starter of
// execs in its container: exec.c, StartExec) and the sandbox's pause process. Both are C (shim.c,
// exec.c) run from a constructor of the skiff binary before the Go runtime starts, so a shim costs
// a few hundred KB of anonymous memory and no Go start-up, while living in the one binary that
// `go build` makes. The package also hooks libcontainer's "init" re-exec at package
// initialisation, ahead of the heavy packages of the binary, and has the init load the seccomp
// program the agent precompiled (initseccomp). An exec's settings come from the
// agent in the request (ExecSpec): the shim must never decide what a process gets. It must never
// hold container state itself: everything a restarted agent needs is in the container's
// directory (shim.sock, exit) and in libcontainer's state.
package shim
