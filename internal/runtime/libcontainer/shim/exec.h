// The shim's exec fast path (exec.c), as the shim's main loop (shim.c) sees it.
#ifndef SKIFF_SHIM_EXEC_H
#define SKIFF_SHIM_EXEC_H
#include <sys/types.h>

// shim_exec answers an exec request that arrived on conn with fds (stdin, stdout, stderr, the
// request): it forks the helper that runs the exec and returns at once. The caller closes its
// copies of conn and fds afterwards; init is the container's init (0 while unknown).
void shim_exec(int conn, int *fds, int nfds, pid_t init);

// shim_exec_reaped says whether pid was an exec helper (then the shim has nothing to do).
int shim_exec_reaped(pid_t pid);

#endif
