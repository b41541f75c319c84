/* mtask/trace.h: a timeline of what the program's tasks did, written as a
 * Chrome/Perfetto trace (JSON array format) that ui.perfetto.dev and
 * chrome://tracing open.
 *
 * Tracing starts by itself when the environment variable MTASK_TRACE names
 * a file when the library loads, or with mt_trace_start(). Each process
 * started by mt_process_start appears as its own track group, with a span
 * for its whole life (from start to reaping, with its exit code) recorded
 * by the parent, and a span for fn recorded by the child; each thread
 * started by mt_thread_start appears as a span for its run, with its exit
 * code. Timestamps are CLOCK_MONOTONIC microseconds, shared by all
 * processes, so a family of processes lands in one consistent file.
 *
 * The file is written as events happen, one line per event with a single
 * write(2) on an O_APPEND descriptor, so the events of parent and children
 * never interleave inside a line. The process that started the trace closes
 * the JSON array at exit (after the library has joined its children); a
 * trace cut short by a crash lacks only the closing bracket, which the JSON
 * array format allows and both viewers accept.
 *
 * A program that exec()s another mtask program with MTASK_TRACE still set
 * should give it another file name: the new program starts its own trace. */
#ifndef MTASK_TRACE_H
#define MTASK_TRACE_H

#include <stdbool.h>

#include "mtask/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* mt_trace_start - start writing a trace to path, truncating it.
 * Returns 0, -EALREADY if a trace is being written, -EINVAL for a NULL or
 * empty path, or the negative errno of open(2). Safe from any thread. */
MT_EXPORT int mt_trace_start(const char *path);

/* mt_trace_stop - close the JSON array and the file. Only the process that
 * started the trace closes it; in a child this just stops the child's own
 * events. Returns 0, or -ENOENT when no trace is running. */
MT_EXPORT int mt_trace_stop(void);

/* mt_trace_enabled - true while events are being written. */
MT_EXPORT bool mt_trace_enabled(void);

/* mt_trace_instant - add a named instant marker on the calling thread's
 * track, for the program's own milestones. Does nothing when tracing is
 * off. The name is escaped as JSON needs. */
MT_EXPORT void mt_trace_instant(const char *name);

#ifdef __cplusplus
}
#endif
#endif
