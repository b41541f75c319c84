/* trace.c: Chrome/Perfetto JSON traces of the program's tasks.
 *
 * The format is the Trace Event "JSON array": "[" then one event object per
 * line, each followed by a comma, closed by a last event and "]". Every
 * line goes out in one write(2) to an O_APPEND descriptor shared by the
 * whole process family, so events of parents and children never tear.
 *
 * Writers do not lock: each counts itself in `writing` while it uses the
 * descriptor, and mt_trace_stop, after taking the descriptor away, waits
 * for that count to drain before it writes the closing line and closes the
 * file. Start and stop serialise on the `switching` flag. Nothing here is
 * held across fork; a child resets what a thread of the parent may have
 * left half-done, and only when tracing is on. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "mtask/process.h"
#include "mtask/trace.h"

MT_KEEP_LIFECYCLE;

/* An event line: the fixed fields need ~200 bytes, names are escaped into
 * the rest and cut at a character boundary if they would not fit. */
#define EVENT_MAX 1024
#define NAME_JSON_MAX 512

MT_HIDDEN _Atomic int mt__trace_fd = -1;

static struct {
	_Atomic int writing;   /* event writers using mt__trace_fd now */
	_Atomic bool switching; /* a start or stop is under way */
	pid_t owner;           /* the process that opened the file */
} trace;

bool mt_trace_enabled(void)
{
	return mt__trace_on();
}

/* Writes s as the inside of a JSON string: quotes, backslashes and control
 * bytes escaped, UTF-8 passed through, cut before overflowing. */
static void json_escape(char *out, size_t size, const char *s)
{
	size_t n = 0;
	for (; *s && n + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	/* Never end inside a UTF-8 sequence: drop continuation bytes of a
	 * character that was cut. */
	if (*s) {
		while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0xc0)
			n--;
	}
	out[n] = '\0';
}

/* Writes len bytes of text (a buffer of size bytes, which snprintf may
 * have overflowed: then nothing is written). */
static void emit_text(const char *text, int len, size_t size)
{
	if (len <= 0 || (size_t)len >= size)
		return;
	atomic_fetch_add(&trace.writing, 1);
	int fd = atomic_load(&mt__trace_fd);
	if (fd >= 0 && write(fd, text, (size_t)len) < 0) {
		/* A full disk loses events, never the program. */
	}
	atomic_fetch_sub(&trace.writing, 1);
}

static void emit_line(const char *line, int len)
{
	emit_text(line, len, EVENT_MAX);
}

/* A complete event; args is the inside of its "args" object, or "". */
static void emit_span(const char *cat, const char *name, int pid, int tid,
		      double start_us, double end_us, const char *args)
{
	char escaped[NAME_JSON_MAX], line[EVENT_MAX];
	json_escape(escaped, sizeof escaped, name);
	int len = snprintf(line, sizeof line,
			   "{\"ph\":\"X\",\"cat\":\"%s\",\"name\":\"%s\",\"pid\":%d,"
			   "\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"args\":{%s}},\n",
			   cat, escaped, pid, tid, start_us, end_us - start_us, args);
	emit_line(line, len);
}

void mt__trace_span(const char *cat, const char *name, int pid, int tid,
		    double start_us, double end_us, int exitcode)
{
	char args[32] = "";
	if (exitcode != MT_NOEXIT)
		snprintf(args, sizeof args, "\"exitcode\":%d", exitcode);
	emit_span(cat, name, pid, tid, start_us, end_us, args);
}

void mt__trace_wait(const char *cat, const char *name, double start_us, int err)
{
	emit_span(cat, name, getpid(), mt__tid(), start_us, mt__now_us(),
		  err == -ETIMEDOUT ? "\"timed_out\":true" : "");
}

static void trace_metadata(const char *what, int pid, int tid, const char *name)
{
	char escaped[NAME_JSON_MAX], line[EVENT_MAX];
	json_escape(escaped, sizeof escaped, name);
	int len = snprintf(line, sizeof line,
			   "{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,"
			   "\"args\":{\"name\":\"%s\"}},\n",
			   what, pid, tid, escaped);
	emit_line(line, len);
}

void mt__trace_process_name(int pid, const char *name)
{
	trace_metadata("process_name", pid, pid, name);
}

void mt__trace_thread_name(int pid, int tid, const char *name)
{
	trace_metadata("thread_name", pid, tid, name);
}

/* An instant event; "s" is its scope: "t" thread, "p" process. */
static int format_instant(char *line, size_t size, const char *name,
			  char scope, const char *tail)
{
	char escaped[NAME_JSON_MAX];
	json_escape(escaped, sizeof escaped, name);
	return snprintf(line, size,
			"{\"ph\":\"i\",\"s\":\"%c\",\"name\":\"%s\",\"pid\":%d,"
			"\"tid\":%d,\"ts\":%.3f}%s\n",
			scope, escaped, getpid(), mt__tid(), mt__now_us(), tail);
}

void mt_trace_instant(const char *name)
{
	if (!mt__trace_on() || !name)
		return;
	char line[EVENT_MAX];
	emit_line(line, format_instant(line, sizeof line, name, 't', ","));
}

static void begin_switch(void)
{
	while (atomic_exchange(&trace.switching, true))
		sched_yield();
}

static void end_switch(void)
{
	atomic_store(&trace.switching, false);
}

int mt_trace_start(const char *path)
{
	if (!path || !*path)
		return -EINVAL;
	begin_switch();
	int err = 0;
	int fd = -1;
	if (atomic_load(&mt__trace_fd) >= 0) {
		err = -EALREADY;
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	if (write(fd, "[\n", 2) != 2) {
		err = -EIO;
		close(fd);
		goto out;
	}
	trace.owner = getpid();
	atomic_store(&mt__trace_fd, fd);
	mt__trace_process_name(getpid(), mt_process_current_name());
	mt__trace_thread_name(getpid(), mt__tid(), "MainThread");
out:
	end_switch();
	return err;
}

/* In a forked child the trace belongs to the parent: the child stops
 * writing and leaves its copy of the descriptor open (a thread of the parent
 * may have been writing or switching at the fork, and its marks would make
 * the waits below wait for ever). */
static int stop_inherited_trace(void)
{
	return atomic_exchange(&mt__trace_fd, -1) >= 0 ? 0 : -ENOENT;
}

int mt_trace_stop(void)
{
	if (trace.owner != getpid())
		return stop_inherited_trace();
	char last[EVENT_MAX];
	int len = format_instant(last, sizeof last, "trace end", 'p', "]");
	begin_switch();
	int fd = atomic_exchange(&mt__trace_fd, -1);
	while (atomic_load(&trace.writing)) /* writers finish their line */
		sched_yield();
	if (fd >= 0 && len > 0 && len < EVENT_MAX &&
	    write(fd, last, (size_t)len) < 0) {
		/* Nothing to do: the file just lacks its closing bracket. */
	}
	if (fd >= 0)
		close(fd);
	end_switch();
	return fd >= 0 ? 0 : -ENOENT;
}

void mt__trace_init_from_env(void)
{
	const char *path = getenv("MTASK_TRACE");
	int err = path && *path ? mt_trace_start(path) : 0;
	if (err)
		fprintf(stderr, "mtask: cannot write the trace to MTASK_TRACE=%s: %s\n",
			path, mt_strerror(err));
}

void mt__trace_at_exit(void)
{
	if (mt__trace_on())
		mt_trace_stop();
}

/* How a wait ended, for its end event's arguments. */
static void format_outcome(char *out, size_t size, int result)
{
	if (result >= 0)
		snprintf(out, size, "\"result\":\"ok\"");
	else if (result == -ETIMEDOUT)
		snprintf(out, size, "\"result\":\"timeout\"");
	else if (result == -ECANCELED)
		snprintf(out, size, "\"result\":\"cancelled\"");
	else
		snprintf(out, size, "\"result\":\"error\",\"errno\":%d,\"error\":\"%s\"", -result,
			 mt_strerror(result));
}

/* Both halves go out in one write: a reader never finds a begin whose
 * end was lost to a writer that raced it, and O_APPEND keeps the two
 * lines together. */
void mt__trace_async_wait(const char *cat, const char *name, uint64_t id, const char *owner,
			  double start_us, int result)
{
	char escaped_name[NAME_JSON_MAX], escaped_owner[NAME_JSON_MAX / 2];
	char outcome[160], pair[2 * EVENT_MAX];
	json_escape(escaped_name, sizeof escaped_name, name);
	json_escape(escaped_owner, sizeof escaped_owner, owner);
	format_outcome(outcome, sizeof outcome, result);
	int pid = getpid(), tid = mt__tid();
	int len = snprintf(pair, sizeof pair,
			   "{\"ph\":\"b\",\"cat\":\"%s\",\"name\":\"%s\",\"id\":\"0x%llx\","
			   "\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"args\":{\"by\":\"%s\"}},\n"
			   "{\"ph\":\"e\",\"cat\":\"%s\",\"name\":\"%s\",\"id\":\"0x%llx\","
			   "\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"args\":{%s}},\n",
			   cat, escaped_name, (unsigned long long)id, pid, tid, start_us,
			   escaped_owner, cat, escaped_name, (unsigned long long)id, pid, tid,
			   mt__now_us(), outcome);
	emit_text(pair, len, sizeof pair);
}
