/* peer.c: runs a Python peer script (bench/peers/) and reads the
 * per-operation times it prints.
 *
 * Protocol: `PYTHON DIR/SCRIPT KIND ITERATIONS` prints one JSON object,
 * {"kind": KIND, "python": "3.11.7", "ns": [n1, n2, ...]}, and exits 0.
 * The interpreter is $MTASK_PYTHON, else python3 on PATH; the directory is
 * $MTASK_BENCH_PEERS, else the source tree's bench/peers, compiled in. A
 * peer that cannot run makes its rows read "skipped (why)", never fails
 * the benchmark: the C rows are worth having on a machine without Python. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#ifndef MTASK_BENCH_PEERS_DIR
#error "the build defines MTASK_BENCH_PEERS_DIR, the source tree's bench/peers"
#endif

/* The peer prints ~12 bytes per sample; this bounds a runaway peer. */
#define PEER_OUTPUT_MAX (16u << 20)

extern char **environ;

/* Marks row skipped and forgets the samples of earlier rounds, so that
 * the report never mixes a partial peer with complete rows. */
__attribute__((format(printf, 3, 4))) static int skip_row(struct bench_row *row, int err,
							  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(row->skipped, sizeof row->skipped, fmt, ap);
	va_end(ap);
	row->count = 0;
	return err;
}

/* Finds an executable: a name with a slash as is, else along $PATH. */
static bool find_executable(const char *name, char *path, size_t size)
{
	if (strchr(name, '/')) {
		snprintf(path, size, "%s", name);
		return access(path, X_OK) == 0;
	}
	const char *dirs = getenv("PATH");
	if (!dirs)
		dirs = "/usr/local/bin:/usr/bin:/bin";
	while (*dirs) {
		size_t len = strcspn(dirs, ":");
		/* An empty PATH entry means the current directory. */
		snprintf(path, size, "%.*s%s%s", (int)len, dirs, len ? "/" : "", name);
		if (access(path, X_OK) == 0)
			return true;
		dirs += len + (dirs[len] == ':');
	}
	return false;
}

static bool find_python(struct bench_row *row, char *path, size_t size)
{
	const char *python = getenv("MTASK_PYTHON");
	if (!python || !*python)
		python = "python3";
	if (find_executable(python, path, size))
		return true;
	skip_row(row, -ENOENT, "%s not found", python);
	return false;
}

static bool find_script(struct bench_row *row, const char *script, char *path, size_t size)
{
	const char *dir = getenv("MTASK_BENCH_PEERS");
	if (!dir || !*dir)
		dir = MTASK_BENCH_PEERS_DIR;
	snprintf(path, size, "%s/%s", dir, script);
	if (access(path, R_OK) == 0)
		return true;
	skip_row(row, -ENOENT, "%s not found", path);
	return false;
}

/* Reads fd to its end into a NUL-terminated buffer the caller frees. */
static char *read_all(int fd)
{
	size_t used = 0, size = 4096;
	char *buf = malloc(size);
	while (buf) {
		ssize_t n = read(fd, buf + used, size - used - 1);
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || used + (size_t)n >= PEER_OUTPUT_MAX)
			goto out_free;
		used += (size_t)n;
		if (used + 1 == size) {
			char *grown = realloc(buf, size *= 2);
			if (!grown)
				goto out_free;
			buf = grown;
		}
	}
	if (buf)
		buf[used] = '\0';
	return buf;
out_free:
	free(buf);
	return NULL;
}

/* Starts argv with its stdout on a pipe; returns the pipe's read end. */
static int spawn_with_stdout_pipe(char *const argv[], pid_t *pid)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_t actions;
	int err = posix_spawn_file_actions_init(&actions);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&actions, pipefd[1], STDOUT_FILENO);
	if (!err)
		err = posix_spawn(pid, argv[0], &actions, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	close(pipefd[1]);
	if (err) {
		close(pipefd[0]);
		return -err;
	}
	return pipefd[0];
}

/* Copies the string value of "key" into out; false if there is none. */
static bool json_string_field(const char *json, const char *key, char *out, size_t size)
{
	char pattern[64];
	snprintf(pattern, sizeof pattern, "\"%s\": \"", key);
	const char *at = strstr(json, pattern);
	if (!at)
		return false;
	at += strlen(pattern);
	size_t len = strcspn(at, "\"");
	snprintf(out, size, "%.*s", (int)len, at);
	return true;
}

/* Appends the numbers of the "ns" array to row. The peers are ours and
 * print exactly json.dump's layout, so a scan for the one array we need is
 * all the parsing it takes. Returns the number of samples, or -EPROTO. */
static int parse_samples(const char *json, struct bench_row *row)
{
	const char *at = strstr(json, "\"ns\": [");
	if (!at)
		return -EPROTO;
	at += strlen("\"ns\": [");
	int count = 0;
	for (;;) {
		at += strspn(at, " \n");
		if (*at == ']')
			return count;
		char *end;
		errno = 0;
		unsigned long long ns = strtoull(at, &end, 10);
		if (end == at || errno)
			return -EPROTO;
		if (bench_row_add_sample(row, ns))
			return -ENOMEM;
		count++;
		at = end + strspn(end, " \n");
		if (*at == ',')
			at++;
		else if (*at != ']')
			return -EPROTO;
	}
}

static void note_python_version(const char *output, const char *python, char *peers)
{
	char version[32];
	if (peers[0] || !json_string_field(output, "python", version, sizeof version))
		return;
	snprintf(peers, BENCH_TEXT_MAX, "Python %s (%s)", version, python);
}

int bench_peer_command(struct bench_row *row, char *const argv[], const char *what,
		       int iterations, char **output)
{
	pid_t pid;
	int fd = spawn_with_stdout_pipe(argv, &pid);
	if (fd < 0)
		return skip_row(row, fd, "cannot start %s: %s", argv[0], strerror(-fd));
	char *text = read_all(fd);
	close(fd);
	int status = bench_wait_exit_status(pid);
	int err = 0;
	if (status)
		err = skip_row(row, -ECHILD, "%s failed: exit status %d", what, status);
	else if (!text || parse_samples(text, row) != iterations)
		err = skip_row(row, -EPROTO, "%s: unexpected output", what);
	if (!err && output)
		*output = text;
	else
		free(text);
	return err;
}

int bench_peer_python(struct bench_row *row, const char *script, const char *kind, int iterations,
		      char *peers)
{
	char python[PATH_MAX], script_path[PATH_MAX], count[16], what[128];
	if (!find_python(row, python, sizeof python) ||
	    !find_script(row, script, script_path, sizeof script_path))
		return -ENOENT;
	snprintf(count, sizeof count, "%d", iterations);
	snprintf(what, sizeof what, "%s %s", script, kind);
	char *argv[] = {python, script_path, (char *)kind, count, NULL};
	char *output = NULL;
	int err = bench_peer_command(row, argv, what, iterations, &output);
	if (!err)
		note_python_version(output, python, peers);
	free(output);
	return err;
}
