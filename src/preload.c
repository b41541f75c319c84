/* preload.c: libmtask_preload.so, gevent's monkey.patch_all for C: with
 * LD_PRELOAD=libmtask_preload.so, the plain libc calls accept, accept4,
 * connect, recv, send, recvfrom, sendto, read and write (on sockets) made
 * inside a greenlet wait in the hub instead of blocking their thread, and
 * close goes through mt_close. Outside greenlets every call is libc's own
 * (found with dlsym(RTLD_NEXT)), and a thread that never ran a greenlet
 * pays one thread-local load per call to learn it.
 *
 * Inside a greenlet a blocking call becomes: try the call without
 * blocking; on EAGAIN wait with mt_wait_fd; try again (the hub's own
 * discipline, hubio.c). For that the descriptor must be non-blocking,
 * which the program does not expect: this file sets O_NONBLOCK itself,
 * remembers it in `ours`, and makes a call on such a descriptor outside
 * greenlets block as the program expects (poll, then try again).
 *
 * A descriptor the program made non-blocking itself keeps its meaning:
 * its calls go straight to libc and return EAGAIN as it expects. So do
 * libmtask's own calls, which reach these functions too (they are found
 * before libc's): mt_recv and the others only ever call libc on
 * descriptors they made non-blocking, or with MSG_DONTWAIT, and mt_close
 * closes through here with `closing` set (it never switches greenlets,
 * so a thread-local flag is enough).
 *
 * Limits: descriptors numbered 65536 or more are left blocking (and
 * block their hub); SO_RCVTIMEO and SO_SNDTIMEO are not honoured inside
 * greenlets; dup2 onto a descriptor the hub watches is not seen. The
 * library links the program's own libmtask.so, so the program's
 * greenlets and these calls share one hub per thread. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtask/hub.h"

#define PRELOAD_EXPORT __attribute__((visibility("default")))
#define TRACKED_MAX 65536

/* Descriptors this file made non-blocking behind the program's back. */
static _Atomic unsigned char ours[TRACKED_MAX];
static __thread bool closing;

/* libc's functions, found at first use: libmtask's constructors run
 * before this library's and may already write or close. A race between
 * threads finds the same address twice. */
static struct {
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	int (*close)(int);
} libc;

static void *find_libc(void **slot, const char *name)
{
	if (!*slot)
		*slot = dlsym(RTLD_NEXT, name);
	return *slot;
}

#define LIBC(name) ((__typeof__(libc.name))find_libc((void **)&libc.name, #name))

static bool is_ours(int fd)
{
	return fd >= 0 && fd < TRACKED_MAX && atomic_load_explicit(&ours[fd], memory_order_relaxed);
}

/* How a call on fd should go: through the hub (true), or straight to
 * libc (the program's own non-blocking descriptor, one we cannot track,
 * or, for read and write, one that is not a socket: a terminal or a
 * pipe may be shared with other processes, whose mode must not change
 * under them). Makes fd non-blocking and ours on its first call in a
 * greenlet. */
static bool hub_should_wait(int fd, bool socket_call)
{
	if (is_ours(fd))
		return true;
	if (fd < 0 || fd >= TRACKED_MAX)
		return false;
	struct stat st;
	if (!socket_call && (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)))
		return false;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || (flags & O_NONBLOCK))
		return false;
	if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return false;
	atomic_store_explicit(&ours[fd], 1, memory_order_relaxed);
	return true;
}

/* After a call failed with errno: true to try again once fd is ready (in
 * the hub inside a greenlet, with poll outside), false to return the
 * failure. */
static bool wait_to_retry(int fd, bool in_greenlet, short events)
{
	if (errno == EINTR)
		return true;
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return false;
	if (in_greenlet) {
		int got = mt_wait_fd(fd, events == POLLIN ? MT_READABLE : MT_WRITABLE, -1);
		if (got < 0)
			errno = -got;
		return got >= 0;
	}
	struct pollfd p = {.fd = fd, .events = events};
	return poll(&p, 1, -1) >= 0 || errno == EINTR;
}

/* Whether a call on fd is ours to make blocking: inside a greenlet (and
 * then fd is made non-blocking), or outside on a descriptor we made so. */
static bool managed(int fd, bool socket_call, bool *in_greenlet)
{
	*in_greenlet = mt_greenlet_current() != NULL;
	return *in_greenlet ? hub_should_wait(fd, socket_call) : is_ours(fd);
}

PRELOAD_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
				socklen_t *addrlen)
{
	bool in_greenlet;
	if ((flags & MSG_DONTWAIT) || !managed(fd, true, &in_greenlet))
		return LIBC(recvfrom)(fd, buf, len, flags, addr, addrlen);
	ssize_t n;
	while ((n = LIBC(recvfrom)(fd, buf, len, flags, addr, addrlen)) < 0 &&
	       wait_to_retry(fd, in_greenlet, POLLIN))
		;
	return n;
}

PRELOAD_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	return recvfrom(fd, buf, len, flags, NULL, NULL);
}

PRELOAD_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
			      const struct sockaddr *addr, socklen_t addrlen)
{
	bool in_greenlet;
	if ((flags & MSG_DONTWAIT) || !managed(fd, true, &in_greenlet))
		return LIBC(sendto)(fd, buf, len, flags, addr, addrlen);
	ssize_t n;
	while ((n = LIBC(sendto)(fd, buf, len, flags, addr, addrlen)) < 0 &&
	       wait_to_retry(fd, in_greenlet, POLLOUT))
		;
	return n;
}

PRELOAD_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	return sendto(fd, buf, len, flags, NULL, 0);
}

PRELOAD_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	bool in_greenlet;
	if (!managed(fd, false, &in_greenlet))
		return LIBC(read)(fd, buf, len);
	ssize_t n;
	while ((n = LIBC(read)(fd, buf, len)) < 0 && wait_to_retry(fd, in_greenlet, POLLIN))
		;
	return n;
}

PRELOAD_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	bool in_greenlet;
	if (!managed(fd, false, &in_greenlet))
		return LIBC(write)(fd, buf, len);
	ssize_t n;
	while ((n = LIBC(write)(fd, buf, len)) < 0 && wait_to_retry(fd, in_greenlet, POLLOUT))
		;
	return n;
}

/* The new descriptor is blocking, as accept's always is, unless flags
 * ask otherwise. */
PRELOAD_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	bool in_greenlet;
	if (!managed(fd, true, &in_greenlet))
		return LIBC(accept4)(fd, addr, addrlen, flags);
	int got;
	while ((got = LIBC(accept4)(fd, addr, addrlen, flags)) < 0 &&
	       wait_to_retry(fd, in_greenlet, POLLIN))
		;
	return got;
}

PRELOAD_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	return accept4(fd, addr, addrlen, 0);
}

/* A non-blocking connect says EINPROGRESS; its outcome comes once the
 * socket is writable, in SO_ERROR. */
PRELOAD_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	bool in_greenlet;
	if (!managed(fd, true, &in_greenlet))
		return LIBC(connect)(fd, addr, addrlen);
	if (LIBC(connect)(fd, addr, addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -1;
	errno = EAGAIN;
	if (!wait_to_retry(fd, in_greenlet, POLLOUT))
		return -1;
	int soerr = 0;
	socklen_t size = sizeof soerr;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &size) < 0)
		return -1;
	errno = soerr;
	return soerr ? -1 : 0;
}

/* Through mt_close, so that the hub forgets the descriptor (a later one
 * with the number must not be believed registered). */
PRELOAD_EXPORT int close(int fd)
{
	if (closing)
		return LIBC(close)(fd);
	if (fd >= 0 && fd < TRACKED_MAX)
		atomic_store_explicit(&ours[fd], 0, memory_order_relaxed);
	closing = true;
	int err = mt_close(fd);
	closing = false;
	if (err) {
		errno = -err;
		return -1;
	}
	return 0;
}
