/* chat_client.c: `mtask chat`, the notes' chat room client. The notes fork
 * a sending process (input('>>')) and a receiving one (recvfrom, print);
 * both write to one terminal, so a message arriving while the user types
 * lands in the middle of the line. This client is one process with one
 * poll loop over standard input and the socket: libedit's
 * readline-compatible callback interface (rl_callback_read_char) takes
 * typed characters one at a time, so the loop is never stuck inside a
 * line, and a message that arrives is printed on its own row above the
 * prompt, after which libedit redraws the prompt and the line typed so
 * far. When standard input or output is not a terminal (tests, pipes),
 * lines are read plainly and messages printed one a line, no prompt.
 *
 * It leaves on 'quit', at the end of input, on Ctrl-C, SIGTERM or SIGHUP
 * (each sends Q and waits briefly for the server's EXIT), and at once on
 * an EXIT the server sends by itself. The socket is connected to the
 * server: datagrams from anyone else are dropped by the kernel, and an
 * absent server shows up as ECONNREFUSED. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <editline/readline.h>

#include "chat.h"
#include "chat_proto.h"

#define ERR_PREFIX "mtask chat: "
#define LOGIN_TRIES 3
#define LOGIN_WAIT_MS 2000 /* per try */
#define EXIT_WAIT_MS 2000  /* for the server's EXIT after our Q */
#define INPUT_MAX 4096

struct client {
	int fd;
	bool tty;
	bool editing; /* libedit's line callback is installed */
	char name[CHAT_NAME_MAX + 1];
	const struct sockaddr_in *server;
	/* Plain input: bytes read but not yet consumed as lines. */
	char input[INPUT_MAX];
	size_t input_len;
	bool input_ended;
	int last_key;	/* the last byte libedit read, or EOF */
	bool line_done; /* on_typed_line ran */
	bool quitting;	/* Q sent, waiting for EXIT */
	bool done;
	int status;
	struct timespec quit_deadline;
};

/* The one client of this process: libedit's line callback has no
 * argument to carry it. */
static struct client *the_client;
static volatile sig_atomic_t stop_signal;

static void on_stop(int signo)
{
	stop_signal = signo;
}

static void fail(struct client *c, const char *what)
{
	char where[32];
	fprintf(stderr, ERR_PREFIX "%s (server %s): %s\n", what,
		chat_addr_text(c->server, where, sizeof where), strerror(errno));
	c->status = 1;
	c->done = true;
}

static void send_text(struct client *c, const char *msg, int len)
{
	if (len >= 0 && send(c->fd, msg, (size_t)len, 0) < 0 && errno != ECONNREFUSED)
		fail(c, "cannot send");
}

/* ---- showing a message ---- */

/* On a terminal: clear the row holding the prompt and the partial line,
 * print the message there, and let libedit draw prompt and line again
 * below it. */
static void show(struct client *c, const char *msg, size_t len)
{
	char text[4 * CHAT_DATAGRAM_MAX];
	chat_display(text, sizeof text, msg, len);
	if (!c->tty) {
		printf("%s\n", text);
		fflush(stdout);
		return;
	}
	printf("\r\033[K%s\n", text);
	fflush(stdout);
	if (c->editing && !c->quitting)
		rl_forced_update_display();
}

static void note(struct client *c, const char *text)
{
	show(c, text, strlen(text));
}

/* ---- plain input: lines from a pipe or a file ---- */

/* The next line of plain input, without its newline, or NULL when none
 * is complete. A line longer than line[] is cut into pieces. */
static char *next_plain_line(struct client *c, char *line, size_t cap)
{
	char *newline = memchr(c->input, '\n', c->input_len);
	size_t take = newline ? (size_t)(newline - c->input) + 1 : c->input_len;
	bool whole = newline || c->input_len == sizeof c->input || c->input_ended;
	if (!whole || take == 0)
		return NULL;
	take = take < cap ? take : cap - 1;
	memcpy(line, c->input, take);
	line[take] = '\0';
	line[strcspn(line, "\n")] = '\0';
	memmove(c->input, c->input + take, c->input_len - take);
	c->input_len -= take;
	return line;
}

/* Reads what standard input has; false at its end. */
static bool read_plain_input(struct client *c)
{
	ssize_t n = read(STDIN_FILENO, c->input + c->input_len, sizeof c->input - c->input_len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		c->input_ended = true;
	else
		c->input_len += (size_t)n;
	return n > 0;
}

/* A whole line of plain input, waiting for it; NULL at the end. */
static char *wait_plain_line(struct client *c, char *line, size_t cap)
{
	char *got;
	while (!(got = next_plain_line(c, line, cap)) && !c->input_ended)
		read_plain_input(c);
	return got;
}

/* ---- logging in ---- */

/* The name to try next: the command line's first, then typed ones;
 * NULL at the end of input. */
static const char *ask_name(struct client *c, const char **given, char *typed, size_t cap)
{
	const char *name = *given;
	*given = NULL;
	if (name || !c->tty)
		return name ? name : wait_plain_line(c, typed, cap);
	char *line = readline("输入你的ID:");
	snprintf(typed, cap, "%s", line ? line : "");
	free(line);
	return line ? typed : NULL;
}

/* True when the server would take the name; shows why not otherwise. */
static bool acceptable_name(struct client *c, const char *name)
{
	char login[CHAT_DATAGRAM_MAX + 1];
	struct chat_request req;
	int len = chat_format_login(login, sizeof login, name);
	enum chat_error err = len < 0 ? CHAT_ERR_NAME_LONG : chat_parse(login, (size_t)len, &req);
	if (err == CHAT_OK)
		return true;
	note(c, chat_error_reason(err));
	return false;
}

/* Sends L name and waits for the answer, trying LOGIN_TRIES times (a
 * datagram may be lost). Returns the answer's length, or -1. */
static ssize_t request_login(struct client *c, char *reply, size_t cap)
{
	char msg[CHAT_DATAGRAM_MAX + 1];
	int len = chat_format_login(msg, sizeof msg, c->name);
	for (int try = 0; try < LOGIN_TRIES && !c->done; try++) {
		send_text(c, msg, len);
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		if (poll(&pfd, 1, LOGIN_WAIT_MS) <= 0)
			continue;
		ssize_t n = recv(c->fd, reply, cap - 1, 0);
		if (n >= 0)
			return n;
		fail(c, "no chat server there");
	}
	if (!c->done) {
		errno = ETIMEDOUT;
		fail(c, "no answer to the login");
	}
	return -1;
}

/* The notes' login loop: a name, L name, OK or a reason and again. */
static bool log_in(struct client *c, const char *given)
{
	char reply[CHAT_DATAGRAM_MAX + 1], typed[INPUT_MAX];
	const char *name;
	while ((name = ask_name(c, &given, typed, sizeof typed))) {
		if (!acceptable_name(c, name))
			continue;
		snprintf(c->name, sizeof c->name, "%s", name);
		ssize_t n = request_login(c, reply, sizeof reply);
		if (n < 0)
			return false;
		if (n == 2 && !memcmp(reply, CHAT_REPLY_OK, 2)) {
			note(c, "已进入聊天室");
			return true;
		}
		show(c, reply, (size_t)n);
	}
	fprintf(stderr, ERR_PREFIX "the input ended before the server took a name\n");
	c->status = 1;
	return false;
}

/* ---- chatting ---- */

static void begin_quit(struct client *c)
{
	if (c->quitting)
		return;
	char msg[CHAT_DATAGRAM_MAX + 1];
	send_text(c, msg, chat_format_quit(msg, sizeof msg, c->name));
	c->quitting = true;
	clock_gettime(CLOCK_MONOTONIC, &c->quit_deadline);
	c->quit_deadline.tv_sec += EXIT_WAIT_MS / 1000;
}

/* The notes' text.strip() == 'quit'. */
static bool is_quit(const char *line)
{
	line += strspn(line, " \t\r\v\f");
	return !strncmp(line, "quit", 4) && line[4 + strspn(line + 4, " \t\r\v\f")] == '\0';
}

/* A typed line, NULL at the end of input: quit, or C name line. */
static void handle_line(struct client *c, const char *line)
{
	char msg[CHAT_DATAGRAM_MAX + 1];
	if (!line || is_quit(line)) {
		begin_quit(c);
		return;
	}
	int len = chat_format_say(msg, sizeof msg, c->name, line);
	if (len < 0) {
		note(c, "(too long for one datagram: not sent)");
		return;
	}
	send_text(c, msg, len);
}

/* libedit's line callback: the line is ours to free. libedit puts the
 * terminal back in cooked mode around this call and only makes it raw
 * again at the next key it reads; keys typed in between would meet the
 * kernel's line discipline (Ctrl-D an end of file, Ctrl-U echoed as ^U),
 * so read_input makes it raw at once (line_done). */
static void on_typed_line(char *line)
{
	the_client->line_done = true;
	if (line && *line)
		add_history(line);
	handle_line(the_client, line);
	free(line);
}

/* Ctrl-D. libedit's callback interface swallows the end of input typed
 * on an empty line (el_gets returns no characters, so the line callback
 * is not called), and binding Ctrl-D there upsets its later keys. So the
 * terminal's bytes come through read_key, and a Ctrl-D read leaves the
 * room whatever the line holds: Ctrl-D means "I am done" here. */
#define CTRL_D ('D' & 0x1f)

static int read_key(FILE *in)
{
	unsigned char ch;
	ssize_t n;
	while ((n = read(fileno(in), &ch, 1)) < 0 && errno == EINTR)
		;
	the_client->last_key = n == 1 ? ch : EOF;
	return the_client->last_key;
}

static void read_input(struct client *c)
{
	if (c->tty) {
		rl_callback_read_char();
		if (c->last_key == EOF || c->last_key == CTRL_D)
			handle_line(c, NULL);
		else if (c->line_done && !c->quitting)
			rl_prep_terminal(1); /* see on_typed_line */
		c->line_done = false;
		return;
	}
	char line[CHAT_DATAGRAM_MAX + 2];
	read_plain_input(c);
	while (!c->quitting && next_plain_line(c, line, sizeof line))
		handle_line(c, line);
	if (c->input_ended && !c->quitting)
		handle_line(c, NULL);
}

static void receive(struct client *c)
{
	char msg[CHAT_DATAGRAM_MAX + 1];
	ssize_t n = recv(c->fd, msg, sizeof msg, MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			fail(c, "the chat server is gone");
		return;
	}
	if (n == 4 && !memcmp(msg, CHAT_REPLY_EXIT, 4))
		c->done = true;
	else
		show(c, msg, (size_t)n);
}

/* Milliseconds left until the quit deadline (-1 while not quitting). */
static int wait_ms(const struct client *c)
{
	if (!c->quitting)
		return -1;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (c->quit_deadline.tv_sec - now.tv_sec) * 1000 +
		  (c->quit_deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? (int)ms : 0;
}

/* One wait for input, a datagram, a signal or the quit deadline. The stop
 * signals are blocked except inside ppoll, so none slips in unseen. */
static void step(struct client *c, const sigset_t *waiting_mask)
{
	struct pollfd pfd[2] = {{.fd = c->fd, .events = POLLIN},
				{.fd = STDIN_FILENO, .events = POLLIN}};
	int ms = wait_ms(c);
	if (ms == 0) {
		c->done = true; /* no EXIT came: leave anyway */
		return;
	}
	struct timespec timeout = {ms / 1000, (ms % 1000) * 1000000L};
	nfds_t count = c->quitting || c->input_ended ? 1 : 2;
	int ready = ppoll(pfd, count, ms < 0 ? NULL : &timeout, waiting_mask);
	if (stop_signal)
		begin_quit(c);
	if (ready <= 0)
		return;
	if (pfd[0].revents)
		receive(c);
	if (count == 2 && pfd[1].revents && !c->done) {
		/* A terminal that hung up never reads as the end of input. */
		if (c->tty && !(pfd[1].revents & POLLIN))
			handle_line(c, NULL);
		else
			read_input(c);
	}
}

static void catch_stop_signals(sigset_t *saved, sigset_t *waiting_mask)
{
	static const int stops[] = {SIGINT, SIGTERM, SIGHUP};
	sigset_t set;
	sigemptyset(&set);
	struct sigaction sa = {.sa_handler = on_stop};
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
		sigaddset(&set, stops[i]);
		sigaction(stops[i], &sa, NULL);
	}
	sigprocmask(SIG_BLOCK, &set, saved);
	*waiting_mask = *saved;
	for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++)
		sigdelset(waiting_mask, stops[i]);
}

static void chat(struct client *c)
{
	sigset_t saved, waiting_mask;
	catch_stop_signals(&saved, &waiting_mask);
	if (c->tty) {
		rl_catch_signals = 0; /* ours: Ctrl-C sends Q */
		rl_callback_handler_install(">>", on_typed_line);
		c->editing = true;
	}
	while (!c->done)
		step(c, &waiting_mask);
	if (c->editing)
		rl_callback_handler_remove();
	c->editing = false;
	if (c->status == 0)
		note(c, "退出聊天室");
	sigprocmask(SIG_SETMASK, &saved, NULL);
}

static int open_socket(struct client *c)
{
	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (c->fd >= 0 &&
	    connect(c->fd, (const struct sockaddr *)c->server, sizeof *c->server) == 0)
		return 0;
	fail(c, "cannot open a socket");
	if (c->fd >= 0)
		close(c->fd);
	return -1;
}

int chat_client_run(const struct chat_options *options)
{
	static struct client c;
	c = (struct client){.server = &options->addr,
			    .tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)};
	the_client = &c;
	rl_getc_function = read_key; /* before libedit's first use */
	if (open_socket(&c) < 0)
		return 1;
	if (log_in(&c, options->name))
		chat(&c);
	close(c.fd);
	return c.status;
}
