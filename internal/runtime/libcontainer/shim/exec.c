// The shim's exec fast path: a process started in a running container without re-executing the
// skiff binary (libcontainer's "init" in setns mode costs the start-up of an ~80 MB Go binary per
// exec probe). The agent sends 'X' on a new connection to the shim's socket with four descriptors
// (stdin, stdout, stderr, and a memfd holding the request, see shim/exec.go for its layout). The
// shim forks a helper and goes back to its loop at once; the helper
//
//   - copies the init's oom_score_adj, opens the init's cgroups (every hierarchy of
//     /proc/<init>/cgroup that is not the shim's) and namespaces, joins the namespaces (mount
//     last) and forks the process, which so lands in the init's PID namespace (and, with clone3,
//     directly in its cgroup2 cgroup);
//   - answers "s" (started), then waits for the process or for the agent: "K", or the connection
//     closing, kills it; then answers "x <code> <signal>", or "e <stage> <errno>" when the process
//     failed before its program ran, and exits.
//
// The process, between fork and execve, does what libcontainer's setns init does for an exec:
// join the (v1) cgroups, setsid, rlimits, no_new_privs, the seccomp filter (before dropping
// capabilities without no_new_privs, as late as possible with it), cwd, stdio ownership, the
// bounding set, groups, gid, uid, the capability sets and ambient ones, then execve after a PATH
// search with the container's PATH. The agent builds the request from libcontainer's own
// configuration of the container (and the filter from the same profile), so an exec here gets
// what one through libcontainer gets.
//
// Refusals come before "s": "n" (the init is not running), "b" (too many execs at once),
// "e <stage> <errno>" (a namespace or cgroup could not be opened or joined). A shim without this
// file answers "?" to 'X'; the agent then takes libcontainer's path.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"

#define EXEC_MAX 64
#define EXEC_MAGIC "skiff-exec-1"
#define MAX_CGROUPS 32

static pid_t helpers[EXEC_MAX];

int shim_exec_reaped(pid_t pid)
{
	for (int i = 0; i < EXEC_MAX; i++)
		if (helpers[i] == pid) {
			helpers[i] = 0;
			return 1;
		}
	return 0;
}

static void reply(int conn, const char *s) { send(conn, s, strlen(s), MSG_NOSIGNAL); }

static void reply_err(int conn, const char *stage, int err)
{
	char b[64];
	snprintf(b, sizeof(b), "e %s %d", stage, err);
	reply(conn, b);
}

// ---------------------------------------------------------------------------------------------
// the request

struct request {
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t *groups;
	const char *cwd;
	int nnp;
	uint64_t bnd, eff, prm, inh, amb;
	int nrl;
	struct {
		int type;
		struct rlimit rl;
	} *rl;
	char **argv, **envp;
	const struct sock_filter *bpf;
	unsigned short nbpf;
	unsigned int bpf_flags;
};

struct cursor {
	char *p, *end;
};

static const char *field(struct cursor *c)
{
	if (c->p >= c->end)
		return NULL;
	char *nul = memchr(c->p, 0, c->end - c->p);
	if (!nul)
		return NULL;
	const char *f = c->p;
	c->p = nul + 1;
	return f;
}

static int number(struct cursor *c, unsigned long long max, unsigned long long *out)
{
	const char *f = field(c);
	if (!f || !*f)
		return -1;
	char *e;
	errno = 0;
	unsigned long long v = strtoull(f, &e, 10);
	if (*e || errno || v > max)
		return -1;
	*out = v;
	return 0;
}

static char **strings(struct cursor *c)
{
	unsigned long long n;
	if (number(c, 65536, &n) < 0)
		return NULL;
	char **v = calloc(n + 1, sizeof(char *));
	if (!v)
		return NULL;
	for (unsigned long long i = 0; i < n; i++)
		if (!(v[i] = (char *)field(c)))
			return NULL;
	return v;
}

static int parse(char *buf, size_t len, struct request *q)
{
	struct cursor c = {buf, buf + len};
	unsigned long long v;
	const char *magic = field(&c);
	if (!magic || strcmp(magic, EXEC_MAGIC) != 0)
		return -1;
	if (number(&c, UINT32_MAX - 1, &v) < 0)
		return -1;
	q->uid = v;
	if (number(&c, UINT32_MAX - 1, &v) < 0)
		return -1;
	q->gid = v;
	if (number(&c, 65536, &v) < 0)
		return -1;
	q->ngroups = v;
	q->groups = calloc(q->ngroups + 1, sizeof(gid_t));
	for (int i = 0; i < q->ngroups; i++) {
		if (number(&c, UINT32_MAX - 1, &v) < 0)
			return -1;
		q->groups[i] = v;
	}
	if (!(q->cwd = field(&c)))
		return -1;
	if (number(&c, 1, &v) < 0)
		return -1;
	q->nnp = v;
	uint64_t *caps[] = {&q->bnd, &q->eff, &q->prm, &q->inh, &q->amb};
	for (int i = 0; i < 5; i++) {
		if (number(&c, UINT64_MAX, &v) < 0)
			return -1;
		*caps[i] = v;
	}
	if (number(&c, 64, &v) < 0)
		return -1;
	q->nrl = v;
	q->rl = calloc(q->nrl + 1, sizeof(*q->rl));
	for (int i = 0; i < q->nrl; i++) {
		unsigned long long t, soft, hard;
		if (number(&c, 64, &t) < 0 || number(&c, UINT64_MAX, &soft) < 0 || number(&c, UINT64_MAX, &hard) < 0)
			return -1;
		q->rl[i].type = t;
		q->rl[i].rl.rlim_cur = soft;
		q->rl[i].rl.rlim_max = hard;
	}
	if (!(q->argv = strings(&c)) || !q->argv[0])
		return -1;
	if (!(q->envp = strings(&c)))
		return -1;
	if (number(&c, UINT32_MAX, &v) < 0)
		return -1;
	q->bpf_flags = v;
	if (number(&c, BPF_MAXINSNS * sizeof(struct sock_filter), &v) < 0 || v % sizeof(struct sock_filter))
		return -1;
	if ((size_t)(c.end - c.p) != v)
		return -1;
	q->nbpf = v / sizeof(struct sock_filter);
	if (v) {
		// The program sits at any offset of the buffer: copy it to aligned memory.
		struct sock_filter *f = malloc(v);
		if (!f)
			return -1;
		memcpy(f, c.p, v);
		q->bpf = f;
	}
	return 0;
}

// ---------------------------------------------------------------------------------------------
// the init's cgroups and namespaces (helper side, still in the shim's mount namespace)

struct cgmount {
	char dir[PATH_MAX];
	char opts[512]; // ",opt,opt," of a v1 hierarchy; "" for cgroup2
	int v2;
};

// cgroup_mounts lists the host's cgroup hierarchies in one read of mountinfo.
static int cgroup_mounts(struct cgmount *out, int max)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	int n = 0;
	while (n < max && getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - ");
		if (!sep)
			continue;
		char fstype[16], source[256], super[480];
		if (sscanf(sep + 3, "%15s %255s %479s", fstype, source, super) != 3)
			continue;
		int v2 = strcmp(fstype, "cgroup2") == 0;
		if (!v2 && strcmp(fstype, "cgroup") != 0)
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", out[n].dir) != 1)
			continue;
		out[n].v2 = v2;
		snprintf(out[n].opts, sizeof(out[n].opts), ",%s,", v2 ? "" : super);
		n++;
	}
	free(line);
	fclose(f);
	return n;
}

static const struct cgmount *cgroup_find(const struct cgmount *m, int n, const char *controllers)
{
	for (int i = 0; i < n; i++) {
		if (controllers[0] == 0) {
			if (m[i].v2)
				return &m[i];
			continue;
		}
		if (m[i].v2)
			continue;
		char want[256];
		snprintf(want, sizeof(want), "%s", controllers);
		int all = 1;
		char *save;
		for (char *tok = strtok_r(want, ",", &save); tok && all; tok = strtok_r(NULL, ",", &save)) {
			char pat[260];
			snprintf(pat, sizeof(pat), ",%s,", tok);
			all = strstr(m[i].opts, pat) != NULL;
		}
		if (all)
			return &m[i];
	}
	return NULL;
}

// in_cgroup says whether the helper is in cgroup cg of the hierarchy whose /proc/<pid>/cgroup
// line starts with "id:controllers".
static int in_cgroup(const char *self, const char *hier, const char *cg)
{
	char want[PATH_MAX + 300];
	snprintf(want, sizeof(want), "\n%s:%s\n", hier, cg);
	return strstr(self, want) != NULL;
}

// open_cgroups opens, for every hierarchy the init is in (that the host mounts) and the helper is
// not, the way into the init's cgroup without the kernel's global threadgroup lock, whose RCU
// grace period (8-15 ms here) a cgroup.procs write waits for when no migration happened shortly
// before — what every periodic probe would pay: in a v1 hierarchy the "tasks" file, through which
// the process moves its one thread itself; in cgroup2 the cgroup's directory (*v2dir), for
// clone3's CLONE_INTO_CGROUP, which creates the process there.
static int open_cgroups(pid_t init, int *fds, int max, int *v2dir, int *err)
{
	*v2dir = -1;
	struct cgmount *mounts = calloc(MAX_CGROUPS, sizeof(*mounts)); // the helper's, not the shim's
	int nm = mounts ? cgroup_mounts(mounts, MAX_CGROUPS) : -1;
	if (nm < 0) {
		*err = errno;
		return -1;
	}
	char self[8192] = "\n";
	int sfd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	if (sfd >= 0) {
		ssize_t r = read(sfd, self + 1, sizeof(self) - 2);
		self[r > 0 ? r + 1 : 1] = 0;
		close(sfd);
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", init);
	FILE *f = fopen(path, "re");
	if (!f) {
		*err = errno;
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	int n = 0;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = 0;
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = 0;
		if (in_cgroup(self, line, c2 + 1))
			continue;
		const struct cgmount *m = cgroup_find(mounts, nm, c1 + 1);
		if (!m)
			continue;
		char procs[PATH_MAX * 2];
		if (m->v2) {
			snprintf(procs, sizeof(procs), "%s%s", m->dir, c2 + 1);
			if ((*v2dir = open(procs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
				*err = errno;
				n = -1;
				break;
			}
			continue;
		}
		snprintf(procs, sizeof(procs), "%s%s/tasks", m->dir, c2 + 1);
		if (n >= max) {
			*err = E2BIG;
			n = -1;
			break;
		}
		int fd = open(procs, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			*err = errno;
			n = -1;
			break;
		}
		fds[n++] = fd;
	}
	free(line);
	fclose(f);
	return n;
}

static const struct {
	const char *name;
	int type;
} namespaces[] = {
    // The mount namespace last: the others are opened through the host's /proc.
    {"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
    {"net", CLONE_NEWNET},       {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS},
};
#define NNS (sizeof(namespaces) / sizeof(namespaces[0]))

// open_namespaces opens those of the init's namespaces that are not the shim's own (the ones the
// container was given; a hostNetwork pod's net namespace is the node's, as the shim's is).
static int open_namespaces(pid_t init, int *fds, int *err)
{
	for (size_t i = 0; i < NNS; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", init, namespaces[i].name);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			if (errno == ENOENT && i == 0)
				continue; // a kernel without cgroup namespaces
			*err = errno;
			return -1;
		}
		struct stat theirs, ours;
		snprintf(path, sizeof(path), "/proc/self/ns/%s", namespaces[i].name);
		if (fstat(fds[i], &theirs) == 0 && stat(path, &ours) == 0 && theirs.st_ino == ours.st_ino &&
		    theirs.st_dev == ours.st_dev) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
	return 0;
}

static void copy_oom_score_adj(pid_t init)
{
	char path[64], buf[16];
	snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", init);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0)
		return;
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, buf, n) < 0) {
		// A host refusing a negative value refused it to the init too: it has 0 then.
	}
	close(fd);
}

// ---------------------------------------------------------------------------------------------
// the process (between fork and execve)

static int errfd = -1;


static void __attribute__((noreturn)) fail(const char *stage, int err)
{
	char b[64];
	int n = snprintf(b, sizeof(b), "%s %d", stage, err);
	if (write(errfd, b, n) < 0) {
		// The helper then reports a plain exit status of 127.
	}
	_exit(127);
}

static void load_seccomp(const struct request *q)
{
	struct sock_fprog prog = {.len = q->nbpf, .filter = (struct sock_filter *)q->bpf};
	// As libcontainer loads it: prctl without flags, seccomp(2) with.
	long r = q->bpf_flags == 0 ? prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0)
				   : syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, q->bpf_flags, &prog);
	if (r < 0)
		fail("seccomp", errno);
}

// fix_stdio gives the process's stdio to its user (as libcontainer does), so that it can reopen
// them through /proc/self/fd.
static void fix_stdio(uid_t uid)
{
	for (int fd = 0; fd < 3; fd++) {
		struct stat st;
		if (fstat(fd, &st) < 0) {
			if (errno == EBADF)
				continue;
			fail("stdio", errno);
		}
		if (st.st_uid == uid || (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)))
			continue;
		if (fchown(fd, uid, st.st_gid) < 0 && errno != EINVAL && errno != EPERM && errno != EROFS)
			fail("stdio", errno);
	}
}

static void set_caps(const struct request *q)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2] = {
	    {.effective = (uint32_t)q->eff, .permitted = (uint32_t)q->prm, .inheritable = (uint32_t)q->inh},
	    {.effective = (uint32_t)(q->eff >> 32), .permitted = (uint32_t)(q->prm >> 32), .inheritable = (uint32_t)(q->inh >> 32)},
	};
	if (syscall(SYS_capset, &h, d) < 0)
		fail("caps", errno);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		fail("caps", errno);
	for (int c = 0; c < 64; c++)
		if (q->amb & (1ULL << c))
			prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0); // libcontainer only warns too
}

static void __attribute__((noreturn)) run(const struct request *q)
{
	const char *file = q->argv[0];
	if (strchr(file, '/')) {
		execve(file, q->argv, q->envp);
		fail("exec", errno);
	}
	const char *path = NULL;
	for (char **e = q->envp; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	int err = ENOENT;
	for (const char *p = path; p && *p;) {
		const char *colon = strchrnul(p, ':');
		size_t dl = colon - p;
		char full[PATH_MAX];
		if (dl > 0 && dl + 1 + strlen(file) < sizeof(full)) {
			memcpy(full, p, dl);
			full[dl] = '/';
			strcpy(full + dl + 1, file);
			execve(full, q->argv, q->envp);
			switch (errno) {
			case EACCES:
				err = EACCES;
				/* fallthrough */
			case ENOENT:
			case ENOTDIR:
			case ELOOP:
			case ENAMETOOLONG:
				break;
			default:
				fail("exec", errno);
			}
		}
		p = *colon ? colon + 1 : colon;
	}
	fail("exec", err);
}

static void __attribute__((noreturn)) process(const struct request *q, int *cg, int ncg)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int i = 0; i < ncg; i++) {
		if (write(cg[i], "0", 1) < 0)
			fail("cgroup", errno);
		close(cg[i]);
	}
	if (setsid() < 0)
		fail("setsid", errno);
	for (int i = 0; i < q->nrl; i++)
		if (setrlimit(q->rl[i].type, &q->rl[i].rl) < 0)
			fail("rlimit", errno);
	if (q->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail("nnp", errno);
	// Without no_new_privs loading a filter takes CAP_SYS_ADMIN, which goes below.
	if (q->nbpf && !q->nnp)
		load_seccomp(q);
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		for (int fd = 3; fd < 1024; fd++)
			if (fd != errfd)
				fcntl(fd, F_SETFD, FD_CLOEXEC);
	// The cwd before the user changes (it may be reachable to root only), else after.
	int late = 0;
	if (chdir(q->cwd) < 0) {
		if (errno != EACCES && errno != EPERM)
			fail("cwd", errno);
		late = 1;
	}
	fix_stdio(q->uid);
	for (int c = 0; c < 64; c++)
		if (!(q->bnd & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; // past the kernel's last capability
			fail("caps", errno);
		}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail("caps", errno);
	// Raw system calls: the process has one thread, and no libc wrapper needs to broadcast.
	if (syscall(SYS_setgroups, q->ngroups, q->groups) < 0)
		fail("user", errno);
	if (syscall(SYS_setgid, q->gid) < 0)
		fail("user", errno);
	if (syscall(SYS_setuid, q->uid) < 0)
		fail("user", errno);
	if (late && chdir(q->cwd) < 0)
		fail("cwd", errno);
	char wd[PATH_MAX];
	long n = syscall(SYS_getcwd, wd, sizeof(wd));
	if (n < 0 || wd[0] != '/')
		fail("cwd", n < 0 ? errno : ENOENT); // outside the container's root
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		fail("caps", errno);
	set_caps(q);
	if (q->nbpf && q->nnp)
		load_seccomp(q); // as close to execve as it gets
	run(q);
}

// ---------------------------------------------------------------------------------------------
// the helper

static void close_from(int lowest)
{
	if (syscall(SYS_close_range, lowest, ~0U, 0) == 0)
		return;
	for (int fd = lowest; fd < 65536; fd++)
		close(fd);
}

// struct clone_args of clone3(2), as far as CLONE_INTO_CGROUP needs it (kernel 5.7).
struct clone3_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
	    cgroup;
};
#define CLONE_INTO_CGROUP_FLAG 0x200000000ULL

// spawn forks the process, into the cgroup2 directory v2dir if there is one: with clone3 where
// the kernel has it, else by a cgroup.procs write of the process (added to cg).
static pid_t spawn(int v2dir, int *cg, int *ncg)
{
	if (v2dir < 0)
		return fork();
	struct clone3_args a = {.flags = CLONE_INTO_CGROUP_FLAG, .exit_signal = SIGCHLD, .cgroup = v2dir};
	long pid = syscall(SYS_clone3, &a, sizeof(a));
	if (pid >= 0)
		return pid;
	if ((cg[*ncg] = openat(v2dir, "cgroup.procs", O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	(*ncg)++;
	return fork();
}

static void __attribute__((noreturn)) helper(int conn, int *fds, pid_t init)
{
	prctl(PR_SET_NAME, "skiff-exec");
	// stdio at 0-2, the connection at 3, the request at 4; nothing else of the shim's.
	int src[5] = {fds[0], fds[1], fds[2], conn, fds[3]}, moved[5];
	for (int i = 0; i < 5; i++)
		if ((moved[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 16)) < 0)
			_exit(1);
	for (int i = 0; i < 5; i++)
		if (dup2(moved[i], i) < 0)
			_exit(1);
	close_from(5);
	conn = 3;
	fcntl(3, F_SETFD, FD_CLOEXEC);

	struct stat st;
	struct request q = {0};
	char *buf = NULL;
	if (fstat(4, &st) < 0 || st.st_size <= 0 || st.st_size > (64 << 20) || !(buf = malloc(st.st_size)) ||
	    pread(4, buf, st.st_size, 0) != st.st_size || parse(buf, st.st_size, &q) < 0) {
		reply_err(conn, "request", EINVAL);
		_exit(0);
	}
	close(4);

	int err = 0, cg[MAX_CGROUPS], ns[NNS];
	if (open_namespaces(init, ns, &err) < 0) {
		if (err == ENOENT || err == ESRCH)
			reply(conn, "n"); // a zombie has no namespaces left
		else
			reply_err(conn, "namespace", err);
		_exit(0);
	}
	int v2dir;
	int ncg = open_cgroups(init, cg, MAX_CGROUPS - 1, &v2dir, &err);
	if (ncg < 0) {
		reply_err(conn, "cgroup", err);
		_exit(0);
	}
	copy_oom_score_adj(init);
	for (size_t i = 0; i < NNS; i++) {
		if (ns[i] < 0)
			continue;
		if (setns(ns[i], namespaces[i].type) < 0) {
			reply_err(conn, "setns", errno);
			_exit(0);
		}
		close(ns[i]);
	}

	int ep[2];
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL); // blocked in the shim already; said for clarity
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		reply_err(conn, "helper", errno);
		_exit(0);
	}
	pid_t pid = spawn(v2dir, cg, &ncg);
	if (pid < 0) {
		reply_err(conn, "fork", errno);
		_exit(0);
	}
	if (pid == 0) {
		close(ep[0]);
		errfd = ep[1];
		process(&q, cg, ncg);
	}
	close(ep[1]);
	for (int i = 0; i < ncg; i++)
		close(cg[i]);
	// The process holds the stdio now: the agent sees EOF when it (and what it started) is done.
	for (int fd = 0; fd < 3; fd++)
		close(fd);
	reply(conn, "s");

	struct pollfd p[2] = {{.fd = conn, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
	int status = 0;
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			kill(pid, SIGKILL);
			break;
		}
		if (p[0].revents) {
			char b[8];
			ssize_t r = recv(conn, b, sizeof(b), MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN) || (r > 0 && b[0] == 'K')) {
				kill(pid, SIGKILL);
				if (r <= 0)
					p[0].fd = -1; // gone: nobody to answer either
			}
		}
		if (p[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) > 0)
				;
			if (waitpid(pid, &status, WNOHANG) == pid)
				break;
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	char b[96];
	ssize_t n = read(ep[0], b, sizeof(b) - 3);
	if (n > 0) {
		b[n] = 0;
		char out[100];
		snprintf(out, sizeof(out), "e %s", b);
		reply(conn, out);
	} else {
		int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		snprintf(b, sizeof(b), "x %d %d", code, sig);
		reply(conn, b);
	}
	_exit(0);
}

void shim_exec(int conn, int *fds, int nfds, pid_t init)
{
	if (nfds != 4) {
		reply_err(conn, "request", EINVAL);
		return;
	}
	if (init <= 0) {
		reply(conn, "n");
		return;
	}
	int slot = -1;
	for (int i = 0; i < EXEC_MAX && slot < 0; i++)
		if (helpers[i] == 0)
			slot = i;
	if (slot < 0) {
		reply(conn, "b");
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		reply(conn, "b");
		return;
	}
	if (pid == 0)
		helper(conn, fds, init);
	helpers[slot] = pid;
}
