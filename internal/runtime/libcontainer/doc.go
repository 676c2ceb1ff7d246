// Package libcontainer implements runtime.Runtime in-process on runc's libcontainer: sandboxes
// (a pause process holding the pod's network, IPC and UTS namespaces, and PID with
// ShareProcessNamespace), app containers that join them on an overlayfs root (the image's layers
// from a RootfsSource under an upper/work pair in the container's directory), runc's default
// mounts and masked/read-only paths, cgroupfs limits under the sandbox's cgroup parent, OOM kills
// read from the memory cgroup, a default seccomp profile when libseccomp is compiled in, CRI logs,
// exec (started by the container's shim; with a tty, by libcontainer), containers with stdin and
// a terminal, attach, and adoption after a restart. It owns everything under Config.StateDir and
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
// # Exec: started by the shim, not by a re-executed binary
//
// An exec without a tty (every exec probe) does not go through libcontainer's process start,
// which re-executes the whole skiff binary as a setns "init" (15–18 ms per probe). The agent
// works out once per container what libcontainer would give the process (execProfile: user,
// groups, cwd, the environment as libcontainer prepares it, the five capability sets,
// no_new_privs, rlimits, and the seccomp program compiled from the container's profile by
// libcontainer's own translation, kept per profile in memory) and hands each exec to the
// container's shim:
//
//	agent ── 'X' + stdin, stdout, stderr, memfd(request) (SCM_RIGHTS) ──► shim: fork helper
//	helper: init's oom_score_adj, its cgroups and namespaces (those that are not the shim's),
//	        setns, fork (clone3 into its cgroup2 cgroup) ── "s" ──► agent
//	process: joins the v1 cgroups ("tasks"), setsid, rlimits, no_new_privs, seccomp, cwd, caps,
//	         uid, execve
//	helper: waits; "K" or the agent closing the connection kills the process (timeouts)
//	helper ── "x <code> <signal>" | "e <stage> <errno>" ──► agent
//
// The shim only forks, so logging and exit detection never wait for an exec, and its memory is
// the helper's, not its own. No cgroup.procs write: it waits for the kernel's threadgroup lock,
// an RCU grace period (8–15 ms) whenever no migration happened just before, i.e. on every
// periodic probe. The init is the shim's own child (known by "P", repeated at
// adoption), so its pid cannot be reused under an exec. Execs with a tty, containers whose
// configuration has what the shim does not apply (user or time namespaces, umask, AppArmor or
// SELinux labels, a scheduler, I/O priority, CPU affinity, memory policy, personality, a session
// keyring, seccomp listeners) and shims that predate execs (they answer "?") take libcontainer's
// path. TestExecMatchesLibcontainer compares what a process gets on both paths, and
// TestExecSeccompSameFilter the filters the kernel holds for the init and for an exec.
//
// The pause process is the same binary too (a constructor selects it by its environment): it
// runs in a mount namespace whose read-only root holds only the binary and the host's library
// directories, reaps zombies and exits on SIGTERM.
//
// libcontainer's "init" re-exec is taken at package initialisation of package shim, before the
// heavy packages of the skiff binary initialise, which saves most of the binary's start-up on
// every container start (and tty exec).
//
// # Seccomp: compiled once per profile, in the agent
//
// libcontainer's init compiles the container's profile with libseccomp before loading it
// (≈ 20–30 ms of CPU for the default profile, in every app container). StartContainer instead
// writes the program compiled once per profile (the exec path's, by libcontainer's own
// translation) into the container's directory, and the init, in package shim, hands it to
// libcontainer's call of seccomp.InitSeccomp (package initseccomp): same program, same thread,
// same point of the init, same system call. A profile whose key does not match the file's is
// compiled by libcontainer as before. TestInitSeccompPrecompiled compares, through ptrace, the
// filter the kernel holds for inits of both kinds, and shows that the file is what is loaded.
//
// Host refusals: a host that refuses negative oom_score_adj (even to root) gets 0 instead, logged
// once; without libseccomp compiled in (build tag seccomp, which the Makefile sets), containers
// run without the default profile, logged once.
package libcontainer
