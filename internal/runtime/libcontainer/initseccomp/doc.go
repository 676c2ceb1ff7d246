// Package initseccomp owns the precompiled seccomp program of a container's init: the file the
// agent writes into the container's directory before starting it (the program its profile
// compiles to, keyed by the profile), and the init side, which makes libcontainer's init load
// that program where it would have compiled the profile with libseccomp (≈ 20 ms of CPU per
// container for the default profile). The program loaded, the thread, the flags and the point
// in the init's sequence stay libcontainer's; only the compilation moves to the agent, once per
// profile. It must never load a program under a profile whose key differs from the one it was
// compiled for (libcontainer then compiles, as without the file), never read the file anywhere
// but in a standard init still in the host's view of the container's directory, and never leave
// libcontainer's code redirected after its first call.
package initseccomp
