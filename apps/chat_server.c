/* chat_server.c: `mtask chat-server`, the notes' UDP chat server: one
 * socket, a loop that hands every datagram to the room (chat_room.c), and
 * the notes' admin process: a child started with mt_process_start (their
 * os.fork) that reads the server's standard input and sends each line as
 * "C 管理员 line" to the server's own address through the inherited
 * socket. The child cannot see the user table, which lives in the parent,
 * so it speaks the protocol like any client; the room believes 管理员 only
 * from the server's own address, which no other process can send from
 * while the server holds the port. docs/chat.md says why processes and
 * not threads or coroutines. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chat.h"
#include "chat_proto.h"
#include "chat_room.h"
#include "mtask/process.h"

#define LOG_PREFIX "mtask chat-server: "

struct server {
	int fd;
	struct sockaddr_in addr; /* bound */
	struct chat_room room;
};

static volatile sig_atomic_t stop_signal;

static void on_stop(int signo)
{
	stop_signal = signo;
}

const char *chat_addr_text(const struct sockaddr_in *addr, char *buf, size_t cap)
{
	char ip[INET_ADDRSTRLEN] = "?";
	inet_ntop(AF_INET, &addr->sin_addr, ip, sizeof ip);
	snprintf(buf, cap, "%s:%d", ip, ntohs(addr->sin_port));
	return buf;
}

static double monotonic_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the admin process ---- */

/* One typed line as "C 管理员 line"; false (and why, on stderr) when the
 * server would refuse it. */
static bool admin_message(const char *line, char *msg, size_t cap, int *len)
{
	struct chat_request req;
	*len = chat_format_say(msg, cap, CHAT_ADMIN_NAME, line);
	enum chat_error err = *len < 0 ? CHAT_ERR_TOO_LONG : chat_parse(msg, (size_t)*len, &req);
	if (err)
		fprintf(stderr, LOG_PREFIX "not sent: %s\n", chat_error_reason(err));
	return err == CHAT_OK;
}

/* The notes' admin child: input('管理员消息:') for ever, each line sent to
 * the server's own address. Ends at the end of its input. */
static int admin_main(void *arg)
{
	const struct server *s = arg;
	sigset_t none;
	sigemptyset(&none);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	bool prompt = isatty(STDIN_FILENO);
	char *line = NULL, msg[CHAT_DATAGRAM_MAX + 1];
	size_t cap = 0;
	int len;
	for (;;) {
		if (prompt) {
			fputs("管理员消息:", stdout);
			fflush(stdout);
		}
		if (getline(&line, &cap, stdin) < 0)
			break;
		line[strcspn(line, "\r\n")] = '\0';
		if (admin_message(line, msg, sizeof msg, &len))
			sendto(s->fd, msg, (size_t)len, 0,
			       (const struct sockaddr *)&s->room.config.admin,
			       sizeof s->room.config.admin);
	}
	free(line);
	return 0;
}

/* ---- the loop ---- */

static void send_datagram(void *ctx, const struct sockaddr_in *to, const char *msg, size_t len)
{
	const struct server *s = ctx;
	/* Never blocks: a datagram the kernel cannot take now is lost, as
	 * UDP may lose any. */
	sendto(s->fd, msg, len, MSG_DONTWAIT, (const struct sockaddr *)to, sizeof *to);
}

static void log_event(const struct sockaddr_in *from, const struct chat_event *e)
{
	char who[32];
	chat_addr_text(from, who, sizeof who);
	if (e->evicted[0])
		fprintf(stderr, LOG_PREFIX "%s evicted: quiet longest, room full\n", e->evicted);
	if (e->error) {
		fprintf(stderr, LOG_PREFIX "refused %s: %s\n", who, chat_error_reason(e->error));
		return;
	}
	int n = (int)e->req.name_len;
	if (e->req.kind == CHAT_LOGIN)
		fprintf(stderr, LOG_PREFIX "%.*s joined from %s\n", n, e->req.name, who);
	else if (e->req.kind == CHAT_QUIT)
		fprintf(stderr, LOG_PREFIX "%.*s left\n", n, e->req.name);
}

/* Receives one datagram, if there is one, and lets the room handle it.
 * MSG_TRUNC makes recvfrom return a datagram's real length, so one over
 * the limit is seen as such. */
static void serve_one(struct server *s)
{
	char buf[CHAT_DATAGRAM_MAX + 1];
	struct sockaddr_in from;
	socklen_t from_len = sizeof from;
	ssize_t n = recvfrom(s->fd, buf, sizeof buf, MSG_TRUNC | MSG_DONTWAIT,
			     (struct sockaddr *)&from, &from_len);
	if (n < 0 || from_len != sizeof from || from.sin_family != AF_INET)
		return; /* EAGAIN, EINTR, an ICMP error of an earlier send */
	struct chat_event event;
	size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf;
	chat_room_handle(&s->room, &from, buf, len, monotonic_seconds(), &event);
	log_event(&from, &event);
}

/* Serves until SIGINT or SIGTERM. Both stay blocked except inside ppoll,
 * so a signal either finds the loop in ppoll (EINTR) or waits for it:
 * none is missed between the check and the wait. */
static int serve(struct server *s, const sigset_t *waiting_mask)
{
	struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
	while (!stop_signal) {
		if (ppoll(&pfd, 1, NULL, waiting_mask) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, LOG_PREFIX "poll: %s\n", strerror(errno));
			return 1;
		}
		serve_one(s);
	}
	return 0;
}

/* ---- setup ---- */

static int open_socket(struct server *s, const struct sockaddr_in *addr)
{
	char where[32];
	s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		fprintf(stderr, LOG_PREFIX "socket: %s\n", strerror(errno));
		return -1;
	}
	socklen_t len = sizeof s->addr;
	if (bind(s->fd, (const struct sockaddr *)addr, sizeof *addr) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&s->addr, &len) < 0) {
		fprintf(stderr, LOG_PREFIX "cannot bind %s: %s\n",
			chat_addr_text(addr, where, sizeof where), strerror(errno));
		close(s->fd);
		return -1;
	}
	return 0;
}

/* The address the admin process sends to, and so sends from: the bound
 * one, with 127.0.0.1 for 0.0.0.0. */
static struct sockaddr_in admin_address(const struct sockaddr_in *bound)
{
	struct sockaddr_in admin = *bound;
	if (admin.sin_addr.s_addr == htonl(INADDR_ANY))
		admin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return admin;
}

static void catch_stop_signals(sigset_t *saved, sigset_t *waiting_mask)
{
	sigset_t stops;
	sigemptyset(&stops);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGTERM);
	sigprocmask(SIG_BLOCK, &stops, saved);
	*waiting_mask = *saved;
	sigdelset(waiting_mask, SIGINT);
	sigdelset(waiting_mask, SIGTERM);
	struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int chat_server_run(const struct chat_options *options)
{
	struct server s;
	if (open_socket(&s, &options->addr) < 0)
		return 1;
	struct chat_room_config config = {.max_users = options->max_users,
					  .idle_seconds = options->idle_seconds,
					  .admin = admin_address(&s.addr)};
	if (chat_room_init(&s.room, &config, send_datagram, &s) < 0) {
		fprintf(stderr, LOG_PREFIX "out of memory for %zu users\n", options->max_users);
		close(s.fd);
		return 1;
	}
	char where[32];
	printf("mtask chat-server: listening on %s (stdin lines go to all as %s)\n",
	       chat_addr_text(&s.addr, where, sizeof where), CHAT_ADMIN_NAME);
	fflush(stdout);
	sigset_t saved, waiting_mask;
	catch_stop_signals(&saved, &waiting_mask);
	mt_process *admin = NULL;
	int err = mt_process_start(&admin, admin_main, &s,
				   &(mt_process_opts){.name = "admin", .daemon = true});
	if (err)
		fprintf(stderr, LOG_PREFIX "no admin process (%s); serving without\n",
			strerror(-err));
	int status = serve(&s, &waiting_mask);
	if (admin) {
		mt_process_terminate(admin);
		mt_process_join(admin, 2.0);
		mt_process_free(admin);
	}
	sigprocmask(SIG_SETMASK, &saved, NULL);
	chat_room_free(&s.room);
	close(s.fd);
	return status;
}
