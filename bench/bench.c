/* bench.c: the registry of benchmarks and the interleaved rounds that
 * fill their rows with samples. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "mtask/common.h"
#include "progress.h"

#define BENCH_ENTRY(bench_name, bench_summary)                                                     \
	{.name = #bench_name, .summary = bench_summary, .run = bench_##bench_name},

const struct bench bench_registry[BENCH_COUNT] = {BENCH_LIST(BENCH_ENTRY)};

const struct bench *bench_find(const char *name)
{
	for (int i = 0; i < BENCH_COUNT; i++)
		if (!strcmp(bench_registry[i].name, name))
			return &bench_registry[i];
	return NULL;
}

uint64_t bench_now_ns(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

int bench_row_add_sample(struct bench_row *row, uint64_t ns)
{
	if (row->count == row->capacity) {
		size_t capacity = row->capacity ? row->capacity * 2 : 256;
		uint64_t *grown = realloc(row->ns, capacity * sizeof *grown);
		if (!grown)
			return -ENOMEM;
		row->ns = grown;
		row->capacity = capacity;
	}
	row->ns[row->count++] = ns;
	return 0;
}

void bench_add_target(struct bench_result *result, const char *label, int row, int versus,
		      enum bench_comparison comparison, double bound)
{
	if (result->target_count == BENCH_TARGETS_MAX)
		return; /* a programming error, caught the first time it runs */
	result->targets[result->target_count++] = (struct bench_target){
		.label = label,
		.row = row,
		.versus = versus,
		.comparison = comparison,
		.bound = bound,
	};
}

void bench_result_free(struct bench_result *result)
{
	for (int i = 0; i < result->row_count; i++) {
		free(result->rows[i].ns);
		result->rows[i].ns = NULL;
		result->rows[i].count = result->rows[i].capacity = 0;
	}
}

static int write_all(int fd, const void *buf, size_t size)
{
	const char *at = buf;
	while (size) {
		ssize_t n = write(fd, at, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		at += n;
		size -= (size_t)n;
	}
	return 0;
}

/* Reads up to size bytes, fewer only at end of file; returns the count. */
static ssize_t read_full(int fd, void *buf, size_t size)
{
	size_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, (char *)buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* In the batch child: setup, one untimed warm-up (first-use costs such as
 * lazy binding or starting mtask's reaper are not what a row measures),
 * then `count` operations, each timed on its own so that the percentiles
 * show the spread of single operations. The samples go to fd. Returns the
 * child's exit status. */
static int batch_child(const struct bench_impl *impl, int count, int fd)
{
	uint64_t *ns = malloc((size_t)count * sizeof *ns);
	int err = ns ? 0 : -ENOMEM;
	if (!err && impl->setup)
		err = impl->setup();
	if (!err)
		err = impl->op();
	for (int i = 0; !err && i < count; i++) {
		uint64_t start = bench_now_ns();
		err = impl->op();
		ns[i] = bench_now_ns() - start;
	}
	if (!err)
		err = write_all(fd, ns, (size_t)count * sizeof *ns);
	if (err)
		fprintf(stderr, "mtask bench: %s: %s\n", impl->implementation, mt_strerror(err));
	return err ? 1 : 0;
}

int bench_pick_cpus(int cpu[2])
{
	cpu_set_t allowed;
	int found = 0, first[2];
	if (sched_getaffinity(0, sizeof allowed, &allowed) < 0)
		return -errno;
	for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
		if (CPU_ISSET(c, &allowed))
			first[found++] = c;
	if (found == 0)
		return -ESRCH;
	cpu[0] = first[0];
	cpu[1] = first[found - 1];
	return 0;
}

int bench_wait_exit_status(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int append_samples(struct bench_row *row, const uint64_t *ns, int count)
{
	for (int i = 0; i < count; i++)
		if (bench_row_add_sample(row, ns[i]))
			return -ENOMEM;
	return 0;
}

/* Runs one batch of a C implementation in a fresh child (see bench.h) and
 * collects its samples through a pipe. */
static int time_c_batch(const struct bench_impl *impl, struct bench_row *row, int count)
{
	size_t size = (size_t)count * sizeof(uint64_t);
	uint64_t *ns = malloc(size);
	int pipefd[2];
	if (!ns)
		return -ENOMEM;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		free(ns);
		return -errno;
	}
	fflush(NULL); /* the child must not print what this process buffered */
	pid_t pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		_exit(batch_child(impl, count, pipefd[1]));
	}
	close(pipefd[1]);
	int err = pid < 0 ? -errno : 0;
	if (err)
		fprintf(stderr, "mtask bench: fork: %s\n", mt_strerror(err));
	ssize_t got = err ? 0 : read_full(pipefd[0], ns, size);
	close(pipefd[0]);
	if (!err && (bench_wait_exit_status(pid) || got != (ssize_t)size))
		err = -ECHILD; /* the child said why on stderr */
	if (!err)
		err = append_samples(row, ns, count);
	free(ns);
	return err;
}

static int run_batch(const struct bench_config *config, struct bench_result *result,
		     const struct bench_impl *impl, struct bench_row *row)
{
	int count = config->quick ? impl->quick_batch : impl->batch;
	if (row->skipped[0])
		return 0; /* a peer that failed once is not tried again */
	if (impl->op)
		return time_c_batch(impl, row, count);
	if (impl->peer) {
		impl->peer(row, impl->peer_kind, count, result->peers);
		return 0;
	}
	bench_peer_python(row, impl->peer_script, impl->peer_kind, count, result->peers);
	return 0;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static int add_rows(struct bench_result *result, const struct bench_impl *impls, int count)
{
	if (result->row_count + count > BENCH_ROWS_MAX)
		return -E2BIG;
	for (int i = 0; i < count; i++) {
		struct bench_row *row = &result->rows[result->row_count++];
		memset(row, 0, sizeof *row);
		row->operation = impls[i].operation;
		row->implementation = impls[i].implementation;
		row->reference = impls[i].reference;
	}
	return 0;
}

int bench_run_rounds(const struct bench_config *config, struct bench_result *result,
		     const struct bench_impl *impls, int impl_count, int rounds)
{
	int first = result->row_count;
	int err = add_rows(result, impls, impl_count);
	if (config->rounds > 0)
		rounds = config->rounds;
	else if (config->quick)
		rounds = 2;
	/* Round r starts with implementation r, so that each one in turn runs
	 * first; a slow spell of the machine then lands on every row alike
	 * rather than on whichever always runs at the same point. */
	for (int round = 0; !err && round < rounds; round++) {
		for (int k = 0; !err && k < impl_count; k++) {
			int i = (round + k) % impl_count;
			progress_show(config->progress, "%s: round %d/%d: %s", result->name,
				      round + 1, rounds, impls[i].implementation);
			err = run_batch(config, result, &impls[i], &result->rows[first + i]);
		}
	}
	progress_clear(config->progress);
	/* The reports read percentiles from sorted samples. */
	for (int i = first; i < result->row_count; i++)
		if (result->rows[i].count)
			qsort(result->rows[i].ns, result->rows[i].count, sizeof(uint64_t),
			      compare_u64);
	return err;
}

void bench_row_scale(struct bench_row *row, uint64_t divisor)
{
	for (size_t k = 0; k < row->count; k++)
		row->ns[k] = (row->ns[k] + divisor / 2) / divisor;
}
