// The small processes of skiff's runtime, in C so that they run before (and instead of) the Go
// runtime of the binary they live in. A constructor with priority 101 runs before libcontainer's
// nsexec constructor and before Go starts, and picks one of:
//
//   _SKIFF_SHIM=1      the per-container shim: parent of the container's init, holder of its
//                      stdout/stderr pipes (and of its stdin pipe or terminal), writer of its CRI
//                      log and of its exit status file, relay to attached clients; it also starts
//                      execs in its container without the Go runtime (exec.c).
//   _SKIFF_PAUSE=1     the sandbox's infra process: reaps zombies, exits on SIGTERM/SIGINT.
//   _LIBCONTAINER_INITTYPE=standard, cwd's parent holding shim.sock
//                      libcontainer's "init" stage-0 for a container with a shim: hand the whole
//                      process (its fds, env, args, cwd, binary) to the shim, which re-runs it as
//                      its own child, so that the container's init (cloned with CLONE_PARENT by
//                      nsexec) becomes the shim's child and the shim can wait for it.
//   _SKIFF_HANDOFF=pid that re-run stage-0: once libcontainer sent the bootstrap data (so the
//                      original stage-0 has been put in the container's cgroups), join the same
//                      cgroups, then let nsexec carry on.
//
// Anything else returns at once and the binary runs normally.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"

extern char **environ;

#define MAX_FDS 64
#define MSG_MAX 32768
#define LINE_MAX_BYTES 16384

// ---------------------------------------------------------------------------------------------
// hand-off (stage-0 side)

static int send_all_fds(int sock, int *fds, int n, const char *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	char cbuf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	memset(cbuf, 0, sizeof(cbuf));
	msg.msg_control = cbuf;
	msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int put(char *buf, size_t *off, const char *s)
{
	size_t l = strlen(s) + 1;
	if (*off + l > MSG_MAX)
		return -1;
	memcpy(buf + *off, s, l);
	*off += l;
	return 0;
}

// handoff sends this stage-0 to the shim listening at ../shim.sock and exits with the status of
// the re-run. It returns only when there is no shim (the process then runs as libcontainer
// expects).
static void handoff(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, "../shim.sock");
	struct stat st;
	if (stat(sa.sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return;
	}

	int fds[MAX_FDS], targets[MAX_FDS], n = 0;
	fds[n] = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	targets[n++] = -1;
	fds[n] = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	targets[n++] = -2;
	if (fds[0] < 0 || fds[1] < 0)
		_exit(121);
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		_exit(121);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd == dirfd(d) || fd == s || fd == fds[0] || fd == fds[1])
			continue;
		if (n >= MAX_FDS)
			_exit(122);
		fds[n] = fd;
		targets[n++] = fd;
	}
	closedir(d);

	static char buf[MSG_MAX];
	size_t off = 0;
	char num[32];
	buf[off++] = 'H';
	snprintf(num, sizeof(num), "%d", n);
	put(buf, &off, num);
	for (int i = 0; i < n; i++) {
		snprintf(num, sizeof(num), "%d", targets[i]);
		put(buf, &off, num);
	}
	// argv: libcontainer runs "<argv0> init"
	const char *args[] = {"skiff", "init"};
	snprintf(num, sizeof(num), "%d", 2);
	put(buf, &off, num);
	for (int i = 0; i < 2; i++)
		put(buf, &off, args[i]);
	int envc = 0;
	for (char **ep = environ; *ep; ep++)
		envc++;
	snprintf(num, sizeof(num), "%d", envc + 1);
	put(buf, &off, num);
	for (char **ep = environ; *ep; ep++)
		if (put(buf, &off, *ep) < 0)
			_exit(123);
	snprintf(num, sizeof(num), "_SKIFF_HANDOFF=%d", getpid());
	put(buf, &off, num);

	if (send_all_fds(s, fds, n, buf, off) < 0)
		_exit(124);
	// The re-run holds every descriptor now: libcontainer waits for EOF on some of them.
	for (int i = 0; i < n; i++)
		close(fds[i]);
	int32_t status;
	ssize_t r;
	do
		r = recv(s, &status, sizeof(status), 0);
	while (r < 0 && errno == EINTR);
	if (r != sizeof(status))
		_exit(125);
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	_exit(128 + WTERMSIG(status));
}

// ---------------------------------------------------------------------------------------------
// cgroups (re-run stage-0 side)

// cgroup_mount finds where the hierarchy named by controllers ("cpu,cpuacct", "name=systemd", or
// "" for the unified one) is mounted.
static int cgroup_mount(const char *controllers, char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	int found = -1;
	while (getline(&line, &cap, f) > 0) {
		// fields: id parent maj:min root mountpoint opts ... - fstype source superopts
		char *sep = strstr(line, " - ");
		if (!sep)
			continue;
		char fstype[32], source[256], super[1024];
		if (sscanf(sep + 3, "%31s %255s %1023s", fstype, source, super) != 3)
			continue;
		char mp[PATH_MAX];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		if (controllers[0] == 0) {
			if (strcmp(fstype, "cgroup2") != 0)
				continue;
		} else {
			if (strcmp(fstype, "cgroup") != 0)
				continue;
			// every controller of the list must be among the super options
			char want[256];
			snprintf(want, sizeof(want), "%s", controllers);
			int all = 1;
			for (char *tok = strtok(want, ","); tok; tok = strtok(NULL, ",")) {
				char opts[1030];
				snprintf(opts, sizeof(opts), ",%s,", super);
				char pat[270];
				snprintf(pat, sizeof(pat), ",%s,", tok);
				if (!strstr(opts, pat)) {
					all = 0;
					break;
				}
			}
			if (!all)
				continue;
		}
		snprintf(out, outlen, "%s", mp);
		found = 0;
		break;
	}
	free(line);
	fclose(f);
	return found;
}

static int join_cgroups_of(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;
	char self[32];
	snprintf(self, sizeof(self), "%d", getpid());
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = 0;
		char *c1 = strchr(line, ':');
		if (!c1)
			continue;
		char *c2 = strchr(c1 + 1, ':');
		if (!c2)
			continue;
		*c2 = 0;
		const char *controllers = c1 + 1, *cg = c2 + 1;
		char mp[PATH_MAX], procs[PATH_MAX * 2];
		if (cgroup_mount(controllers, mp, sizeof(mp)) < 0)
			continue;
		snprintf(procs, sizeof(procs), "%s%s/cgroup.procs", mp, cg);
		int fd = open(procs, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = -1;
			continue;
		}
		if (write(fd, self, strlen(self)) < 0)
			rc = -1;
		close(fd);
	}
	free(line);
	fclose(f);
	return rc;
}

static void after_handoff(const char *orig)
{
	const char *p = getenv("_LIBCONTAINER_INITPIPE");
	if (!p)
		return;
	struct pollfd pfd = {.fd = atoi(p), .events = POLLIN};
	while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
		;
	if (join_cgroups_of(atoi(orig)) < 0)
		_exit(126);
	unsetenv("_SKIFF_HANDOFF");
}

// ---------------------------------------------------------------------------------------------
// pause

static void noop(int sig) { (void)sig; }

static void pause_main(void)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	// Handlers as well as the block: a PID namespace's init only receives signals it handles.
	struct sigaction sa = {.sa_handler = noop};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig == SIGTERM || sig == SIGINT)
			_exit(0);
		if (sig == SIGCHLD)
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
	}
}

// ---------------------------------------------------------------------------------------------
// shim

struct stream {
	int fd;
	const char *name;
	char buf[LINE_MAX_BYTES];
	size_t len;
};

struct client {
	int fd;
	pid_t stage0; // re-run stage-0 this hand-off connection waits for, 0 if a control client
};

#define MAX_CLIENTS 16
#define MAX_EARLY 16

static struct {
	const char *dir, *logpath;
	int logfd, listenfd, sigfd;
	struct stream out, err;
	struct client clients[MAX_CLIENTS];
	pid_t main_pid;
	struct {
		pid_t pid;
		int status;
	} early[MAX_EARLY];
} S;

static void log_open(void)
{
	int fd = open(S.logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return; // keep the old one: output is better in a renamed file than lost
	if (S.logfd >= 0)
		close(S.logfd);
	S.logfd = fd;
}

static void write_line(struct stream *st, const char *p, size_t n, int partial, const char *ts)
{
	if (S.logfd < 0)
		return;
	struct iovec iov[4] = {
	    {.iov_base = (void *)ts, .iov_len = strlen(ts)},
	    {.iov_base = (void *)st->name, .iov_len = strlen(st->name)},
	    {.iov_base = partial ? " P " : " F ", .iov_len = 3},
	    {.iov_base = (void *)p, .iov_len = n},
	};
	char nl = '\n';
	struct iovec all[5];
	memcpy(all, iov, sizeof(iov));
	all[4].iov_base = &nl;
	all[4].iov_len = 1;
	while (writev(S.logfd, all, 5) < 0 && errno == EINTR)
		;
}

static void now_ts(char *ts, size_t len)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	struct tm tm;
	gmtime_r(&t.tv_sec, &tm);
	size_t n = strftime(ts, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, len - n, ".%09ldZ ", t.tv_nsec);
}

// flush writes the complete lines of st's buffer; with force, also what is left (as a full line
// at EOF, as a partial one when the buffer is full).
static void flush(struct stream *st, int eof)
{
	char ts[64];
	now_ts(ts, sizeof(ts));
	size_t start = 0;
	for (size_t i = 0; i < st->len; i++) {
		if (st->buf[i] == '\n') {
			write_line(st, st->buf + start, i - start, 0, ts);
			start = i + 1;
		}
	}
	if (start < st->len && (eof || (start == 0 && st->len == sizeof(st->buf)))) {
		write_line(st, st->buf + start, st->len - start, !eof, ts);
		start = st->len;
	}
	memmove(st->buf, st->buf + start, st->len - start);
	st->len -= start;
}

static void attach_relay(struct stream *st, const char *p, size_t n);

// pump reads what st has; it returns 0 at EOF.
static int pump(struct stream *st)
{
	ssize_t r = read(st->fd, st->buf + st->len, sizeof(st->buf) - st->len);
	if (r < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	if (r == 0) {
		flush(st, 1);
		return 0;
	}
	attach_relay(st, st->buf + st->len, r);
	st->len += r;
	flush(st, 0);
	return 1;
}

static void write_exit(int status)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	char tmp[PATH_MAX], dst[PATH_MAX], body[128];
	snprintf(tmp, sizeof(tmp), "%s/exit.tmp", S.dir);
	snprintf(dst, sizeof(dst), "%s/exit", S.dir);
	int n = snprintf(body, sizeof(body), "%d %d %lld\n", code, sig,
			 (long long)t.tv_sec * 1000000000LL + t.tv_nsec);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, body, n) == n && fsync(fd) == 0)
		rename(tmp, dst);
	close(fd);
}

// ---------------------------------------------------------------------------------------------
// attach: the container's input (a pipe's write end, or its terminal's master) and the agent's
// attach connections, which get the output read after they came and may write to the input.
//
// Flags (argv[3]): 'i' the container has a stdin pipe (fd 6) or, with 't', its terminal is its
// input; 'o' stdin once: the pipe closes when the first attach session that wrote to it ends;
// 't' the container runs on a terminal whose master the agent hands over ("M" + the fd).
//
// On an attach connection ("A", or "Ai" to write input; answered "ok"), the shim sends
// 'o'|'e' + bytes of stdout|stderr (a terminal's output is 'o'), and reads 'i' + bytes of input,
// 'c' (the client's input ended) and 'w' + rows + cols (2 bytes each, big-endian: a resize).
// Output goes to a client only as far as its socket has room: a slow client misses output, the
// log never waits for it. Input is read from the clients only once the previous packet reached
// the container, so a container that does not read holds its writers back, not the shim.

#define MAX_ATTACH 8
#define ATTACH_POLLS (2 + MAX_ATTACH)
#define ATTACH_IN_MAX 4096 // the agent's input packets carry at most this many bytes
#define ATTACH_SNDBUF (512 * 1024)

static struct {
	int stdin_fd; // where input goes; -1: none, or closed
	int has_stdin, once, tty;
	struct stream term; // the terminal's master and its output, logged as stdout
	int clients[MAX_ATTACH];
	char input[MAX_ATTACH]; // client i writes input
	char pend[1 + ATTACH_IN_MAX];
	size_t pend_off, pend_len; // input not yet taken by the container
} A;

static void attach_init(int argc, char **argv)
{
	A.stdin_fd = A.term.fd = -1;
	A.term.name = "stdout";
	for (int i = 0; i < MAX_ATTACH; i++)
		A.clients[i] = -1;
	const char *f = argc > 3 ? argv[3] : "";
	A.has_stdin = strchr(f, 'i') != NULL;
	A.once = strchr(f, 'o') != NULL;
	A.tty = strchr(f, 't') != NULL;
	if (A.has_stdin && !A.tty) {
		A.stdin_fd = 6;
		fcntl(6, F_SETFD, FD_CLOEXEC);
		fcntl(6, F_SETFL, fcntl(6, F_GETFL) | O_NONBLOCK);
	}
}

static void attach_close_stdin(void)
{
	if (A.stdin_fd >= 0 && A.stdin_fd != A.term.fd)
		close(A.stdin_fd);
	A.stdin_fd = -1;
	A.pend_off = A.pend_len = 0;
}

static void attach_drop(int k)
{
	close(A.clients[k]);
	A.clients[k] = -1;
	if (A.input[k] && A.once && !A.tty)
		attach_close_stdin();
	A.input[k] = 0;
}

static void attach_relay(struct stream *st, const char *p, size_t n)
{
	char tag = st == &S.err ? 'e' : 'o';
	struct iovec iov[2] = {{.iov_base = &tag, .iov_len = 1}, {.iov_base = (void *)p, .iov_len = n}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
	for (int i = 0; i < MAX_ATTACH; i++) {
		if (A.clients[i] < 0)
			continue;
		if (sendmsg(A.clients[i], &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN &&
		    errno != EWOULDBLOCK && errno != ENOBUFS && errno != EINTR)
			attach_drop(i);
	}
}

static void attach_write_stdin(void)
{
	while (A.pend_off < A.pend_len && A.stdin_fd >= 0) {
		ssize_t w = write(A.stdin_fd, A.pend + A.pend_off, A.pend_len - A.pend_off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			break; // the container closed its input: the rest has nowhere to go
		}
		A.pend_off += w;
	}
	A.pend_off = A.pend_len = 0;
}

static void attach_close_term(void)
{
	flush(&A.term, 1);
	if (A.stdin_fd == A.term.fd) {
		A.stdin_fd = -1;
		A.pend_off = A.pend_len = 0;
	}
	close(A.term.fd);
	A.term.fd = -1;
}

// attach_drain takes what the terminal still has once the container's init ended.
static void attach_drain(void)
{
	if (A.term.fd < 0)
		return;
	for (;;) {
		ssize_t r = read(A.term.fd, A.term.buf + A.term.len, sizeof(A.term.buf) - A.term.len);
		if (r <= 0)
			break;
		attach_relay(&A.term, A.term.buf + A.term.len, r);
		A.term.len += r;
		flush(&A.term, 0);
	}
	attach_close_term();
}

static void attach_input(int k)
{
	ssize_t r = recv(A.clients[k], A.pend, sizeof(A.pend), MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		attach_drop(k);
		return;
	}
	switch (A.pend[0]) {
	case 'i':
		if (A.input[k] && A.stdin_fd >= 0) {
			A.pend_off = 1;
			A.pend_len = r;
			attach_write_stdin();
		}
		break;
	case 'c':
		if (A.input[k] && A.once && !A.tty)
			attach_close_stdin();
		A.input[k] = 0;
		break;
	case 'w':
		if (A.term.fd >= 0 && r >= 5) {
			const unsigned char *u = (const unsigned char *)A.pend;
			struct winsize ws = {.ws_row = (u[1] << 8) | u[2], .ws_col = (u[3] << 8) | u[4]};
			ioctl(A.term.fd, TIOCSWINSZ, &ws);
		}
		break;
	}
}

// attach_request serves "A" (the connection becomes an attach client) and "M" (the terminal's
// master, in fds). It owns fds.
static void attach_request(struct client *c, const char *buf, size_t len, int *fds, int nfds)
{
	int ok = 0;
	if (buf[0] == 'M' && A.tty && A.term.fd < 0 && nfds == 1) {
		A.term.fd = fds[0];
		fcntl(A.term.fd, F_SETFL, fcntl(A.term.fd, F_GETFL) | O_NONBLOCK);
		if (A.has_stdin)
			A.stdin_fd = A.term.fd;
		nfds = 0;
		ok = 1;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (buf[0] == 'A') {
		for (int k = 0; k < MAX_ATTACH; k++) {
			if (A.clients[k] >= 0)
				continue;
			int sz = ATTACH_SNDBUF;
			if (setsockopt(c->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
				setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
			send(c->fd, "ok", 2, MSG_NOSIGNAL);
			A.clients[k] = c->fd;
			A.input[k] = len > 1 && buf[1] == 'i' && A.stdin_fd >= 0;
			c->fd = -1;
			c->stage0 = 0;
			return;
		}
	}
	send(c->fd, ok ? "ok" : "?", ok ? 2 : 1, MSG_NOSIGNAL);
}

// attach_poll adds the attach descriptors to p (ATTACH_POLLS of them).
static int attach_poll(struct pollfd *p)
{
	int n = 0;
	p[n++] = (struct pollfd){.fd = A.term.fd, .events = POLLIN};
	p[n++] = (struct pollfd){.fd = A.pend_len ? A.stdin_fd : -1, .events = POLLOUT};
	for (int i = 0; i < MAX_ATTACH; i++)
		p[n++] = (struct pollfd){.fd = A.clients[i], .events = A.pend_len ? 0 : POLLIN};
	return n;
}

static void attach_events(struct pollfd *p)
{
	if (p[0].revents && A.term.fd >= 0 && p[0].fd == A.term.fd && !pump(&A.term))
		attach_close_term();
	if (p[1].revents && A.pend_len && p[1].fd == A.stdin_fd)
		attach_write_stdin();
	for (int i = 0; i < MAX_ATTACH; i++) {
		struct pollfd *q = &p[2 + i];
		if (!q->revents || A.clients[i] < 0 || q->fd != A.clients[i])
			continue;
		if (!(q->revents & POLLIN))
			attach_drop(i); // hung up while its input waited: that input is lost with it
		else if (!A.pend_len)
			attach_input(i);
	}
}

static void main_exited(int status)
{
	// The init is gone: what it wrote is in the pipes. Take it all, then say how it ended.
	int fds[2] = {S.out.fd, S.err.fd};
	struct stream *sts[2] = {&S.out, &S.err};
	for (int i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
		for (;;) {
			ssize_t r = read(fds[i], sts[i]->buf + sts[i]->len, sizeof(sts[i]->buf) - sts[i]->len);
			if (r <= 0)
				break;
			attach_relay(sts[i], sts[i]->buf + sts[i]->len, r);
			sts[i]->len += r;
			flush(sts[i], 0);
		}
		flush(sts[i], 1);
	}
	attach_drain();
	write_exit(status);
	_exit(0);
}

static void reaped(pid_t pid, int status)
{
	if (shim_exec_reaped(pid))
		return;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &S.clients[i];
		if (c->fd >= 0 && c->stage0 == pid) {
			int32_t st = status;
			send(c->fd, &st, sizeof(st), MSG_NOSIGNAL);
			close(c->fd);
			c->fd = -1;
			c->stage0 = 0;
			return;
		}
	}
	if (S.main_pid > 0 && pid == S.main_pid)
		main_exited(status);
	for (int i = 0; i < MAX_EARLY; i++) {
		if (S.early[i].pid == 0) {
			S.early[i].pid = pid;
			S.early[i].status = status;
			return;
		}
	}
}

static void drop_client(struct client *c)
{
	close(c->fd);
	c->fd = -1;
	c->stage0 = 0;
}

static void do_handoff(struct client *c, char *buf, size_t len, int *fds, int nfds)
{
	// fields: n, n targets, argc, argv..., envc, env...
	char *fields[MAX_FDS + 512];
	int nf = 0;
	for (size_t off = 0; off < len && nf < (int)(sizeof(fields) / sizeof(fields[0]));) {
		fields[nf++] = buf + off;
		off += strnlen(buf + off, len - off) + 1;
	}
	int k = 0;
	if (nf < 1)
		goto bad;
	int n = atoi(fields[k++]);
	if (n != nfds || n > MAX_FDS || nf < 1 + n + 1)
		goto bad;
	int targets[MAX_FDS];
	for (int i = 0; i < n; i++)
		targets[i] = atoi(fields[k++]);
	int argc = atoi(fields[k++]);
	if (argc < 1 || k + argc >= nf)
		goto bad;
	char **argv = &fields[k];
	k += argc;
	int envc = atoi(fields[k]);
	fields[k++] = NULL; // terminates argv
	if (envc < 0 || k + envc > nf)
		goto bad;
	static char *envp[512];
	if (envc >= 512)
		goto bad;
	for (int i = 0; i < envc; i++)
		envp[i] = fields[k + i];
	envp[envc] = NULL;

	pid_t pid = fork();
	if (pid < 0)
		goto bad;
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		prctl(PR_SET_CHILD_SUBREAPER, 0);
		int exefd = -1;
		// Out of the way first, so that no target number is taken by a descriptor still needed.
		int moved[MAX_FDS];
		for (int i = 0; i < n; i++)
			moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 1000);
		for (int i = 0; i < n; i++) {
			if (targets[i] == -1)
				exefd = moved[i];
			else if (targets[i] == -2) {
				if (fchdir(moved[i]) < 0)
					_exit(120);
			} else if (dup2(moved[i], targets[i]) < 0)
				_exit(120);
		}
		// close everything else below the moved range
		for (int fd = 0; fd < 1000; fd++) {
			int keep = 0;
			for (int i = 0; i < n; i++)
				if (targets[i] == fd)
					keep = 1;
			if (!keep)
				close(fd);
		}
		syscall(SYS_execveat, exefd, "", argv, envp, AT_EMPTY_PATH);
		_exit(127);
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
	c->stage0 = pid;
	return;
bad:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	drop_client(c);
}

static void client_msg(struct client *c)
{
	static char buf[MSG_MAX];
	char cbuf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t r = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
	if (r <= 0) {
		if (r < 0 && errno == EINTR)
			return;
		if (c->stage0 == 0)
			drop_client(c);
		return;
	}
	int fds[MAX_FDS], nfds = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (int i = 0; i < k && nfds < MAX_FDS; i++)
				memcpy(&fds[nfds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
		}
	}
	buf[r] = 0;
	switch (buf[0]) {
	case 'H':
		do_handoff(c, buf + 1, r - 1, fds, nfds);
		return;
	case 'X': // an exec: its helper (exec.c) takes the connection over
		shim_exec(c->fd, fds, nfds, S.main_pid);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		drop_client(c);
		return;
	case 'P': { // the container's init pid, from the agent
		S.main_pid = atoi(buf + 1);
		send(c->fd, "ok", 2, MSG_NOSIGNAL);
		for (int i = 0; i < MAX_EARLY; i++)
			if (S.early[i].pid == S.main_pid)
				main_exited(S.early[i].status);
		break;
	}
	case 'A': // an attach connection, from the agent
	case 'M': // the container's terminal, from the agent
		attach_request(c, buf, r, fds, nfds);
		return;
	case 'R': // reopen the log after rotation
		log_open();
		send(c->fd, "ok", 2, MSG_NOSIGNAL);
		break;
	default:
		send(c->fd, "?", 1, MSG_NOSIGNAL);
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

// shim_main: argv[1] = container dir, argv[2] = log path, argv[3] (optional) = stdio flags (see
// attach_init); fd 3, 4 = the container's stdout and stderr read ends, fd 5 = the listening
// SOCK_SEQPACKET socket at <dir>/shim.sock, fd 6 = the container's stdin write end (flag 'i').
static void shim_main(int argc, char **argv)
{
	if (argc < 3)
		_exit(2);
	S.dir = argv[1];
	S.logpath = argv[2];
	S.logfd = -1;
	S.out.fd = 3;
	S.out.name = "stdout";
	S.err.fd = 4;
	S.err.name = "stderr";
	S.listenfd = 5;
	for (int i = 0; i < MAX_CLIENTS; i++)
		S.clients[i].fd = -1;
	for (int fd = 3; fd <= 5; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	prctl(PR_SET_NAME, "skiff-shim");
	attach_init(argc, argv);
	log_open();

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGPIPE);
	S.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);

	for (;;) {
		struct pollfd p[4 + MAX_CLIENTS + ATTACH_POLLS];
		int n = 0;
		p[n++] = (struct pollfd){.fd = S.sigfd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = S.listenfd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = S.out.fd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = S.err.fd, .events = POLLIN};
		for (int i = 0; i < MAX_CLIENTS; i++)
			p[n++] = (struct pollfd){.fd = S.clients[i].fd, .events = POLLIN};
		int attach_base = n;
		n += attach_poll(p + n);
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(3);
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;
			while (read(S.sigfd, &si, sizeof(si)) > 0)
				;
			int status;
			pid_t pid;
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
				reaped(pid, status);
		}
		if (p[1].revents & POLLIN) {
			int fd = accept4(S.listenfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				int placed = 0;
				for (int i = 0; i < MAX_CLIENTS && !placed; i++)
					if (S.clients[i].fd < 0) {
						S.clients[i].fd = fd;
						S.clients[i].stage0 = 0;
						placed = 1;
					}
				if (!placed)
					close(fd);
			}
		}
		if (p[2].revents && !pump(&S.out)) {
			close(S.out.fd);
			S.out.fd = -1;
		}
		if (p[3].revents && !pump(&S.err)) {
			close(S.err.fd);
			S.err.fd = -1;
		}
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (p[4 + i].revents && S.clients[i].fd >= 0)
				client_msg(&S.clients[i]);
		attach_events(p + attach_base);
	}
}

__attribute__((constructor(101))) static void skiff_preinit(int argc, char **argv)
{
	if (getenv("_SKIFF_SHIM")) {
		shim_main(argc, argv);
		_exit(1);
	}
	if (getenv("_SKIFF_PAUSE"))
		pause_main();
	const char *it = getenv("_LIBCONTAINER_INITTYPE");
	if (!it || strcmp(it, "standard") != 0)
		return;
	const char *orig = getenv("_SKIFF_HANDOFF");
	if (orig) {
		after_handoff(orig);
		return;
	}
	handoff();
}
