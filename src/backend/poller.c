/* poller.c: which readiness backend a new hub gets.
 *
 * MTASK_HUB_BACKEND=epoll (the default) or uring, read each time a hub
 * is made, so a program may give its threads different ones. io_uring
 * can be missing in three ways: the library was built without liburing,
 * the kernel is older than 5.13 (no multishot poll), or the system turns
 * it off (the kernel.io_uring_disabled sysctl, a container's seccomp
 * filter). Then the hub uses epoll and says so once on stderr: a setting
 * that cannot be honoured should not pass in silence, nor stop the
 * program. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/poller.h"
#include "mtask/common.h"

#ifndef MTASK_HAVE_LIBURING
const struct mt__poller_backend *const mt__poller_uring = NULL;
#endif

static atomic_flag warned = ATOMIC_FLAG_INIT;

static void warn_once(const char *setting, const char *why)
{
	if (!atomic_flag_test_and_set(&warned))
		fprintf(stderr, "mtask: hub: MTASK_HUB_BACKEND=%s: %s; using epoll\n", setting,
			why);
}

int mt__poller_create(struct mt__poller **p)
{
	const char *want = getenv("MTASK_HUB_BACKEND");
	if (!want || !*want || !strcmp(want, "epoll"))
		return mt__poller_epoll.create(p);
	if (strcmp(want, "uring") != 0) {
		warn_once(want, "unknown backend (epoll or uring)");
	} else if (!mt__poller_uring) {
		warn_once(want, "mtask was built without liburing");
	} else {
		int err = mt__poller_uring->create(p);
		if (!err)
			return 0;
		warn_once(want, err == -ENOSYS || err == -EINVAL
					? "this kernel's io_uring lacks multishot poll"
					: mt_strerror(err));
	}
	return mt__poller_epoll.create(p);
}
