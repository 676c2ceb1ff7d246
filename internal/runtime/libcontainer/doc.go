// Package libcontainer implements runtime.Runtime in-process on runc's libcontainer: sandboxes
// (a pause process holding the pod's network, IPC and UTS namespaces, and PID with
// ShareProcessNamespace), app containers that join them on an overlayfs root (the image's layers
// from a RootfsSource under an upper/work pair in the container's directory), runc's default
// mounts and masked/read-only paths, cgroupfs limits under the sandbox's cgroup parent, OOM kills
// read from the memory cgroup, a default seccomp profile when libseccomp is compiled in, CRI logs,
// exec (with a tty), containers with stdin and a terminal, attach, and adoption after a restart. It owns everything under Config.StateDir and
// the cgroups below the sandboxes' parents; it must never keep state only in memory (a restarted
// agent must find everything on disk) nor leave a mount, cgroup or process behind on removal.
//
// # Survival: one small shim per container
//
// Every container (the pause process included) runs under a shim: a C program living in the skiff
// binary (package shim), selected by a constructor before the Go runtime starts, so it costs a
// fork+exec, about 130 kB of anonymous memory, and no Go start-up. It must be the container init's
// parent to learn its exit status, while libcontainer, in the agent, is what starts that init. So:
//
//	agent ── Start shim (pipes' read ends, listening socket <dir>/shim.sock) ──► shim
//	agent ── libcontainer Run ──► "skiff init" stage-0 (its cwd is <dir>/rootfs)
//	stage-0: a constructor connects to ../shim.sock and sends its fds, env and binary (SCM_RIGHTS)
//	shim: re-runs stage-0 as its child; libcontainer's nsexec clones the container's init with
//	      CLONE_PARENT, so the init is the shim's child (stage-0' first joins stage-0's cgroups)
//	agent ── "P <pid>" ──► shim: which child is the init
//
// From then on the shim holds the container's stdout/stderr pipes and writes the CRI log
// (`<RFC3339Nano> stdout|stderr F|P <line>`, partial lines at 16 kB), reopens the log on request
// (rotation), and when the init ends drains the pipes, writes <dir>/exit ("code signal
// finished-ns", atomically) and exits. The agent watches each shim through a connection to its
// socket (EOF = the container ended); a restarted agent reconnects, repeats "P <pid>", and reads
// the exit file of containers that ended meanwhile. libcontainer's own state (state.json, the
// cgroups) stays until RemoveContainer, so signals, exec and the OOM count work after a restart.
//
// # Stdin, terminals and attach
//
// The shim holds what a container reads as well as what it writes, so both survive the agent:
//
//	stdin: true   a pipe; the shim gets its write end (fd 6) at start, the init its read end
//	tty: true     the init is given a console socket (libcontainer's Terminal); the agent receives
//	              the master and hands it to the shim ("M" + fd) before "P <pid>"; the master is
//	              the container's output (logged as stdout) and, with stdin, its input
//
// Attach is one more connection to shim.sock: "A" (listen) or "Ai" (listen and write), answered
// "ok". The shim then sends 'o'|'e' + bytes for what it reads from the container, from that moment
// on, alongside writing the log; it sends without blocking, so a client whose socket is full misses
// output and the log never waits for it. From the client it reads 'i' + bytes (at most 4 kB a
// packet; the next only once the container took the previous one, so a container that does not
// read holds the agent back, not the shim), 'c' (the client's input ended) and 'w' + rows + cols.
// StdinOnce: the pipe closes when the first session with input ends ('c' or hang-up), as
// upstream; a terminal is never closed. The agent side (Attach) ends a session when the shim hangs
// up (the container ended and everything it wrote was sent), when its context ends, or when the
// client's input ends (a detach) unless the container is StdinOnce without a terminal. A restarted
// agent attaches like the one that started the container: everything is in the shim.
//
// The pause process is the same binary too (a constructor selects it by its environment): it
// runs in a mount namespace whose read-only root holds only the binary and the host's library
// directories, reaps zombies and exits on SIGTERM.
//
// libcontainer's "init" re-exec is taken at package initialisation of package shim, before the
// heavy packages of the skiff binary initialise, which saves most of the binary's start-up on
// every container start and every exec.
//
// Host refusals: a host that refuses negative oom_score_adj (even to root) gets 0 instead, logged
// once; without libseccomp compiled in (build tag seccomp), containers run without the default
// profile, logged once.
package libcontainer
