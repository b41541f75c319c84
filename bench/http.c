/* http.c: `mtask bench http`: the four models of `mtask serve` answering
 * HTTP on loopback, driven by wrk beside nginx (one worker, `return 200`),
 * all in the same run.
 *
 * Every server is started once, as a separate process (the mtask program
 * itself: /proc/self/exe serve ...; nginx with a configuration written to
 * a temporary directory), then each round runs wrk once against each, in
 * a rotating order. A round gives two samples per server: the time per
 * request (1e9 / wrk's requests per second) and wrk's 99th percentile of
 * latency. Two last rows run nginx and the coro server again while the
 * bench holds 10,000 idle connections to each, in alternating order. Servers
 * are stopped by PID with SIGTERM.
 * Without wrk (Debian package wrk) every row is skipped; without nginx
 * (nginx-light) its rows are, and the targets against it. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define HTTP_ROUNDS 3
#define WRK_DURATION "3s"
#define WRK_QUICK_DURATION "1s"
#define WRK_CONNECTIONS "64"
#define IDLE_CONNECTIONS 10000
#define START_SECONDS 10

enum { NGINX, CORO, POOL, THREAD, FORK, NGINX_IDLE, CORO_IDLE, SERVERS };

struct server {
	const char *implementation; /* the rows' name */
	const char *model;	    /* mtask serve --model; NULL: nginx */
	const char *workers;	    /* --workers, or NULL */
	pid_t pid;
	int port;
	char skipped[BENCH_TEXT_MAX];
};

static struct server servers[SERVERS] = {
	{"nginx 1 worker, return 200", NULL, NULL, 0, 0, ""},
	{"mtask serve coro, 1 hub", "coro", "1", 0, 0, ""},
	{"mtask serve pool, 64 threads", "pool", "64", 0, 0, ""},
	{"mtask serve thread", "thread", NULL, 0, 0, ""},
	{"mtask serve fork", "fork", NULL, 0, 0, ""},
	{"nginx, 10,000 idle connections held", NULL, NULL, 0, 0, ""},
	{"coro, 1 hub, 10,000 idle connections held", NULL, NULL, 0, 0, ""},
};

static char nginx_dir[64];

/* ---- finding programs, starting and stopping them ---- */

static bool find_program(const char *name, char *path, size_t size)
{
	const char *dirs[] = {"/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		snprintf(path, size, "%s/%s", dirs[i], name);
		if (access(path, X_OK) == 0)
			return true;
	}
	return false;
}

/* Starts argv with its stdout into a pipe; returns the pid, *out the pipe. */
static pid_t spawn_reading(char *const argv[], int *out)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDERR_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -errno;
	}
	*out = fds[0];
	return pid;
}

/* Reads from fd until EOF or timeout seconds; returns the bytes read. */
static size_t read_all(int fd, char *buf, size_t size, int timeout_ms)
{
	size_t got = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (got + 1 < size && poll(&p, 1, timeout_ms) > 0) {
		ssize_t n = read(fd, buf + got, size - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return got;
}

static void stop(struct server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		bench_wait_exit_status(s->pid);
		s->pid = 0;
	}
}

/* ---- the servers ---- */

static int start_mtask(struct server *s)
{
	char *argv[12] = {"/proc/self/exe", "serve", "--model",	  (char *)s->model,
			  "--port",	    "0",     "--timeout", "120"};
	int argc = 8, out;
	if (s->workers) {
		argv[argc++] = "--workers";
		argv[argc++] = (char *)s->workers;
	}
	s->pid = spawn_reading(argv, &out);
	if (s->pid < 0)
		return (int)s->pid;
	char line[256];
	size_t got = 0;
	struct pollfd p = {.fd = out, .events = POLLIN};
	while (!memchr(line, '\n', got) && got + 1 < sizeof line &&
	       poll(&p, 1, START_SECONDS * 1000) > 0) {
		ssize_t n = read(out, line + got, sizeof line - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	line[got] = '\0';
	close(out);
	const char *at = strstr(line, "127.0.0.1:");
	if (!at || sscanf(at + 10, "%d", &s->port) != 1) {
		snprintf(s->skipped, sizeof s->skipped, "mtask serve did not start");
		stop(s);
		return -EIO;
	}
	return 0;
}

/* A port the kernel says is free now, for nginx, which cannot take 0. */
static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t size = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, size) &&
	    !getsockname(fd, (struct sockaddr *)&a, &size))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int connect_to(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool wait_listening(int port)
{
	for (int i = 0; i < START_SECONDS * 20; i++) {
		int fd = connect_to(port);
		if (fd >= 0) {
			close(fd);
			return true;
		}
		usleep(50000);
	}
	return false;
}

static int write_nginx_conf(int port)
{
	char path[128];
	snprintf(path, sizeof path, "%s/nginx.conf", nginx_dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f,
		"daemon off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log;\n"
		"worker_rlimit_nofile 30000;\nevents { worker_connections 20000; }\n"
		"http {\n  access_log off;\n  server {\n    listen 127.0.0.1:%d;\n"
		"    location / { default_type text/plain; return 200 \"Hello, world!\\n\"; }\n"
		"  }\n}\n",
		nginx_dir, nginx_dir, port);
	return fclose(f) ? -errno : 0;
}

static int start_nginx(struct server *s)
{
	char nginx[64], conf[128], log[128];
	if (!find_program("nginx", nginx, sizeof nginx)) {
		snprintf(s->skipped, sizeof s->skipped, "nginx not installed (Debian nginx-light)");
		return -ENOENT;
	}
	snprintf(nginx_dir, sizeof nginx_dir, "/tmp/mtask-bench-nginx.XXXXXX");
	s->port = free_port();
	if (!mkdtemp(nginx_dir) || s->port < 0 || write_nginx_conf(s->port))
		return -EIO;
	snprintf(conf, sizeof conf, "%s/nginx.conf", nginx_dir);
	snprintf(log, sizeof log, "%s/error.log", nginx_dir);
	char *argv[] = {nginx, "-p", nginx_dir, "-c", conf, "-e", log, NULL};
	int out;
	s->pid = spawn_reading(argv, &out);
	if (s->pid > 0)
		close(out);
	if (s->pid < 0 || !wait_listening(s->port)) {
		snprintf(s->skipped, sizeof s->skipped, "nginx did not start (see %s)", log);
		stop(s);
		return -EIO;
	}
	return 0;
}

static void remove_nginx_dir(void)
{
	const char *files[] = {"nginx.conf", "nginx.pid", "error.log"};
	char path[128];
	if (!nginx_dir[0])
		return;
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", nginx_dir, files[i]);
		unlink(path);
	}
	rmdir(nginx_dir); /* fails, harmlessly, if nginx made more */
}

/* ---- wrk ---- */

/* "1.23ms" and the like in nanoseconds; 0 if unreadable. */
static uint64_t parse_duration(const char *text)
{
	double value;
	char unit[4] = "";
	if (sscanf(text, "%lf%3s", &value, unit) < 1)
		return 0;
	double scale = !strcmp(unit, "us")   ? 1e3
		       : !strcmp(unit, "ms") ? 1e6
		       : !strcmp(unit, "s")  ? 1e9
					     : 0;
	return (uint64_t)(value * scale);
}

/* Runs wrk against port; *ns_per_request and *p99_ns from its report. */
static int run_wrk(const char *wrk, int port, bool quick, uint64_t *ns_per_request,
		   uint64_t *p99_ns)
{
	char url[64], report[8192];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
	char *argv[] = {(char *)wrk,
			"-t1",
			"-c" WRK_CONNECTIONS,
			quick ? "-d" WRK_QUICK_DURATION : "-d" WRK_DURATION,
			"--latency",
			url,
			NULL};
	int out;
	pid_t pid = spawn_reading(argv, &out);
	if (pid < 0)
		return (int)pid;
	read_all(out, report, sizeof report, 60000);
	close(out);
	bench_wait_exit_status(pid);
	const char *rps = strstr(report, "Requests/sec:"), *p99 = strstr(report, " 99%");
	double per_second = rps ? strtod(rps + 13, NULL) : 0;
	if (per_second <= 0 || !p99)
		return -EIO;
	*ns_per_request = (uint64_t)(1e9 / per_second);
	*p99_ns = parse_duration(p99 + 4);
	return 0;
}

/* ---- 10,000 idle connections ---- */

/* The bench holds 10,000 idle connections, and the server (its child)
 * as many: as far as the hard limit goes. */
static void raise_descriptor_limit(void)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

static int open_idle(int port, int *fds)
{
	for (int i = 0; i < IDLE_CONNECTIONS; i++)
		if ((fds[i] = connect_to(port)) < 0) {
			while (i-- > 0)
				close(fds[i]);
			return -errno;
		}
	return 0;
}

/* The descriptors pid has open, from /proc. */
static int count_open_descriptors(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *dir = opendir(path);
	int count = 0;
	while (dir && readdir(dir))
		count++;
	if (dir)
		closedir(dir);
	return count - 2; /* . and .. */
}

/* The process that serves s's connections: nginx's one worker (the
 * master's child), or the mtask server itself. 0 if none is found. */
static pid_t serving_process(const struct server *s)
{
	if (s->model)
		return s->pid;
	DIR *dir = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;
	while (dir && !found && (e = readdir(dir))) {
		char path[300], state;
		int pid, ppid;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		/* The name field may hold spaces, but nginx's does not. */
		if (f && fscanf(f, "%d %*s %c %d", &pid, &state, &ppid) == 3 && ppid == s->pid)
			found = pid;
		if (f)
			fclose(f);
	}
	if (dir)
		closedir(dir);
	return found;
}

/* The descriptors s's serving process has open, or -1. */
static int serving_descriptors(const struct server *s)
{
	pid_t pid = serving_process(s);
	return pid > 0 ? count_open_descriptors(pid) : -1;
}

/* Waits until s's serving process holds at least (more) or at most (!more)
 * count descriptors, up to 30 s. Connections beyond the listen backlog
 * wait in the kernel until the server accepts them, and wrk's would queue
 * behind them; closed ones keep the server busy until it has let them
 * go, and a count taken meanwhile would pass for the next round's. */
static bool wait_descriptors(const struct server *s, int count, bool more)
{
	for (int i = 0; i < START_SECONDS * 3 * 20; i++) {
		int n = serving_descriptors(s);
		if (n >= 0 && (more ? n >= count : n <= count))
			return true;
		usleep(50000);
	}
	return false;
}

/* The CPU time (clock ticks) pid has used, or -1. */
static long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* fields after the name: state is the 3rd */
	long utime, stime;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime,
			 &stime) != 2)
		return -1;
	return utime + stime;
}

/* Waits (up to 30 s) until s's serving process has used no CPU for a
 * fifth of a second: a server that just accepted 10,000 connections is
 * still setting them up (the coro server: a coroutine and its stack
 * each), and the rows measure it holding them, not taking them in. */
static void wait_settled(const struct server *s)
{
	pid_t pid = serving_process(s);
	long last = pid > 0 ? cpu_ticks(pid) : -1;
	for (int i = 0; last >= 0 && i < START_SECONDS * 3 * 5; i++) {
		usleep(200000);
		long now_ticks = cpu_ticks(pid);
		if (now_ticks < 0 || now_ticks == last)
			return;
		last = now_ticks;
	}
}

/* The idle connections the server has closed (readable: EOF or reset). */
static int count_dropped(const int *fds)
{
	int dropped = 0;
	for (int i = 0; i < IDLE_CONNECTIONS; i++) {
		struct pollfd p = {.fd = fds[i], .events = POLLIN};
		dropped += poll(&p, 1, 0) > 0;
	}
	return dropped;
}

/* With a reset, not a FIN: no TIME_WAIT left to hold ports for the next
 * round's 10,000. */
static void close_all(int *fds)
{
	struct linger reset = {.l_onoff = 1, .l_linger = 0};
	for (int i = 0; i < IDLE_CONNECTIONS; i++) {
		setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
		close(fds[i]);
	}
}

/* ---- the benchmark ---- */

static void add_rows(struct bench_result *result)
{
	for (int op = 0; op < 2; op++)
		for (int i = 0; i < SERVERS; i++) {
			struct bench_row *row = &result->rows[result->row_count++];
			row->operation = op == 0 ? "HTTP request (1/req/s), wrk -t1 -c64"
						 : "HTTP p99 latency, wrk -t1 -c64";
			row->implementation = servers[i].implementation;
			row->reference = i == NGINX;
		}
}

static void skip_all(struct bench_result *result, const char *why)
{
	for (int i = 0; i < result->row_count; i++)
		snprintf(result->rows[i].skipped, sizeof result->rows[i].skipped, "%s", why);
}

static void start_servers(void)
{
	start_nginx(&servers[NGINX]);
	for (int i = CORO; i <= FORK; i++)
		start_mtask(&servers[i]);
}

/* One wrk run against server i, its samples into rows i and i + SERVERS. */
static int measure(struct bench_result *result, const char *wrk, bool quick, int i, int port)
{
	uint64_t ns, p99;
	int err = run_wrk(wrk, port, quick, &ns, &p99);
	if (err) {
		snprintf(result->rows[i].skipped, BENCH_TEXT_MAX, "wrk failed against it");
		snprintf(result->rows[i + SERVERS].skipped, BENCH_TEXT_MAX,
			 "wrk failed against it");
		return err;
	}
	return bench_row_add_sample(&result->rows[i], ns) ||
	       bench_row_add_sample(&result->rows[i + SERVERS], p99);
}

/* Opens 10,000 idle connections to servers[of]; NULL, or why not (into
 * rows idle and idle + SERVERS). */
static const char *hold_idle(struct bench_result *result, int of, int idle, int *fds,
			     int *before)
{
	const char *why = servers[of].skipped[0] ? "the server did not start" : NULL;
	*before = why ? -1 : serving_descriptors(&servers[of]);
	if (!why && *before < 0)
		why = "cannot find the serving process";
	else if (!why && open_idle(servers[of].port, fds))
		why = "cannot open 10,000 connections (ulimit -n: 10,100 or more)";
	else if (!why && !wait_descriptors(&servers[of], *before + IDLE_CONNECTIONS, true)) {
		why = "the server did not accept 10,000 connections in 30 s";
		close_all(fds);
	}
	if (!why)
		wait_settled(&servers[of]);
	if (why) {
		snprintf(result->rows[idle].skipped, BENCH_TEXT_MAX, "%s", why);
		snprintf(result->rows[idle + SERVERS].skipped, BENCH_TEXT_MAX, "%s", why);
	}
	return why;
}

/* nginx and the coro server, each holding 10,000 idle connections while
 * wrk runs, in alternating order. One at a time: the descriptor limit
 * may not allow 20,000 (a container's hard limit). A server that dropped
 * any has its row skipped. */
static void measure_idle(struct bench_result *result, const char *wrk, bool quick, int rounds)
{
	static int fds[IDLE_CONNECTIONS];
	const int of[2] = {NGINX, CORO}, idle[2] = {NGINX_IDLE, CORO_IDLE};
	for (int r = 0; r < rounds; r++)
		for (int j = 0; j < 2; j++) {
			int k = (j + r) % 2;
			int before;
			if (result->rows[idle[k]].skipped[0] ||
			    hold_idle(result, of[k], idle[k], fds, &before))
				continue;
			measure(result, wrk, quick, idle[k], servers[of[k]].port);
			int dropped = count_dropped(fds);
			if (dropped)
				snprintf(result->rows[idle[k]].skipped, BENCH_TEXT_MAX,
					 "%d idle connections were dropped", dropped);
			close_all(fds);
			wait_descriptors(&servers[of[k]], before, false);
		}
}

static int compare_samples(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The report reads percentiles from sorted samples, as the harness's
 * rounds leave them. */
static void sort_samples(struct bench_result *result)
{
	for (int i = 0; i < result->row_count; i++)
		if (result->rows[i].count)
			qsort(result->rows[i].ns, result->rows[i].count, sizeof(uint64_t),
			      compare_samples);
}

int bench_http(const struct bench_config *config, struct bench_result *result)
{
	char wrk[64];
	int rounds = config->rounds ? config->rounds : config->quick ? 1 : HTTP_ROUNDS;
	add_rows(result);
	if (!find_program("wrk", wrk, sizeof wrk)) {
		skip_all(result, "wrk not installed (Debian package wrk)");
		return 0;
	}
	raise_descriptor_limit();
	start_servers();
	for (int r = 0; r < rounds; r++)
		for (int k = 0; k <= FORK; k++) {
			int i = (k + r) % (FORK + 1); /* rotate: noise hits all alike */
			if (servers[i].pid > 0)
				measure(result, wrk, config->quick, i, servers[i].port);
		}
	measure_idle(result, wrk, config->quick, rounds);
	for (int i = NGINX; i <= FORK; i++) {
		if (servers[i].skipped[0]) {
			snprintf(result->rows[i].skipped, BENCH_TEXT_MAX, "%s", servers[i].skipped);
			snprintf(result->rows[i + SERVERS].skipped, BENCH_TEXT_MAX, "%s",
				 servers[i].skipped);
		}
		stop(&servers[i]);
	}
	remove_nginx_dir();
	sort_samples(result);
	bench_add_target(result, "coro 1 hub vs nginx 1 worker: time per request", CORO, NGINX,
			 BENCH_AT_MOST, 1.0);
	bench_add_target(result, "coro 1 hub vs nginx 1 worker: p99 latency", CORO + SERVERS,
			 NGINX + SERVERS, BENCH_AT_MOST, 1.0);
	bench_add_target(result, "both holding 10,000 idle connections, coro vs nginx: time per request",
			 CORO_IDLE, NGINX_IDLE, BENCH_AT_MOST, 1.0);
	return 0;
}
