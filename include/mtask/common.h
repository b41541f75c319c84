/* mtask/common.h: what every mtask module shares: the task signature, the
 * "still running" exit code, error names and the export marker. */
#ifndef MTASK_COMMON_H
#define MTASK_COMMON_H

#include <limits.h>

#if defined(MTASK_BUILDING_LIBRARY) && defined(__GNUC__)
#define MT_EXPORT __attribute__((visibility("default")))
#else
#define MT_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A task body. Its return value is the task's exit code: a process exits
 * with it (the kernel keeps the low 8 bits, as with exit(3)) and a thread
 * reports it through mt_thread_exitcode(). */
typedef int (*mt_fn)(void *arg);

/* The exit code of a task that is still running: Python's None. */
#define MT_NOEXIT INT_MIN

/* The version of the library, as a string ("0.1.0") and as a number
 * (major * 10000 + minor * 100 + patch). */
#define MT_VERSION_STRING "0.1.0"
#define MT_VERSION_NUMBER 100

/* mt_strerror - describe an error code returned by an mtask call.
 *
 * Accepts both the negative form every mtask call returns (-ETIMEDOUT) and
 * the positive errno form (ETIMEDOUT). Returns a static, never-NULL string
 * such as "timed out (ETIMEDOUT)"; 0 gives "success". Unknown codes give
 * "unknown error". Safe from any thread, process or signal handler. */
MT_EXPORT const char *mt_strerror(int err);

/* mt_version - the library's version string, which may differ from the
 * MT_VERSION_STRING a program was compiled against. */
MT_EXPORT const char *mt_version(void);

#ifdef __cplusplus
}
#endif
#endif
