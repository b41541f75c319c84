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
 * an EXIT the server sends by itself. It also leaves, saying so on stderr,
 * when its input is gone without a signal: a terminal that hung up (its
 * master closed) sends SIGHUP only to the session that has it as its
 * controlling terminal, so a client started from a shell that was killed,
 * or with a terminal that is not its controlling one, gets none. It sees
 * POLLHUP instead (step), or libedit reading nothing or the terminal's end
 * (read_terminal_key), whatever state libedit is in. The socket is
 * connected to the server: datagrams from anyone else are dropped by the
 * kernel, and an absent server shows up as ECONNREFUSED. */
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
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
#define PROMPT ">>"

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
	bool utf8;	/* LC_CTYPE is UTF-8, as the room's text */
	int last_key;	/* the last character libedit read, or EOF */
	int key_errno;	/* when last_key is EOF: read's errno, 0 at its end */
	bool key_read;	/* read_key ran during this rl_callback_read_char */
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

/* Standard input is gone for good: says why on stderr. */
static void report_input_gone(const char *why)
{
	fprintf(stderr, ERR_PREFIX "%s: leaving the room\n", why);
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

/* Reads what standard input has. Its end or an error (said on stderr)
 * ends the input. With `wait`, a non-blocking standard input (O_NONBLOCK
 * set by whoever shares it) is waited for rather than read again at once,
 * which would spin. */
static void read_plain_input(struct client *c, bool wait)
{
	ssize_t n = read(STDIN_FILENO, c->input + c->input_len, sizeof c->input - c->input_len);
	if (n > 0) {
		c->input_len += (size_t)n;
		return;
	}
	if (n < 0 && errno == EAGAIN && wait) {
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
		poll(&pfd, 1, -1);
		return;
	}
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n < 0)
		report_input_gone(strerror(errno)); /* EIO: a terminal that hung up */
	c->input_ended = true;
}

/* A whole line of plain input, waiting for it; NULL at the end. */
static char *wait_plain_line(struct client *c, char *line, size_t cap)
{
	char *got;
	while (!(got = next_plain_line(c, line, cap)) && !c->input_ended)
		read_plain_input(c, true);
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
	char *line = readline(c->utf8 ? "输入你的ID:" : "ID:"); /* see use_utf8 */
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

/* libedit's line callback: the line is ours to free. Before calling it,
 * libedit leaves its one-key-at-a-time mode and puts the terminal back in
 * cooked mode; the next rl_callback_read_char would then block inside
 * libedit until a whole line is typed (no message shown, no signal seen
 * meanwhile), and keys typed before it would meet the kernel's line
 * discipline (Ctrl-D an end of file). So read_input installs the handler
 * again at once (line_done): one key at a time, raw mode, a fresh prompt. */
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

static int read_byte(int fd, int *err)
{
	unsigned char ch;
	ssize_t n;
	while ((n = read(fd, &ch, 1)) < 0 && errno == EINTR)
		;
	*err = n < 0 ? errno : 0;
	return n == 1 ? ch : EOF;
}

/* The next key as one character: libedit takes what rl_getc_function
 * returns as a wide character, so the bytes of a UTF-8 sequence (你) are
 * put together here, or each byte would become a character of its own. */
static int read_key(FILE *in)
{
	struct client *c = the_client;
	int key = read_byte(fileno(in), &c->key_errno);
	int more = key < 0xc0 ? 0 : key < 0xe0 ? 1 : key < 0xf0 ? 2 : 3;
	if (more && c->utf8)
		key &= 0x3f >> more; /* the lead byte's bits */
	for (; more && c->utf8 && key != EOF; more--) {
		int next = read_byte(fileno(in), &c->key_errno);
		key = next == EOF ? EOF : key << 6 | (next & 0x3f);
	}
	c->key_read = true;
	c->last_key = key;
	return key;
}

/* Standard input is gone (`why`): leave as at its end, saying so. */
static void input_gone(struct client *c, const char *why)
{
	report_input_gone(why);
	c->input_ended = true;
	handle_line(c, NULL);
}

/* On a terminal, libedit reads one key. It may return without reading
 * any: in cooked mode it first makes the terminal raw, and when that
 * fails (a terminal that hung up) it gives up before reading; the
 * terminal would then be readable for ever and the loop spin. A key that
 * reads as EOF is a terminal that hung up or failed too: in raw mode the
 * end of input is Ctrl-D, a key like any other. */
static void read_terminal_key(struct client *c)
{
	c->key_read = false;
	c->line_done = false;
	rl_callback_read_char();
	if (!c->key_read)
		input_gone(c, "the terminal cannot be set up");
	else if (c->last_key == EOF)
		input_gone(c, c->key_errno ? strerror(c->key_errno) : "the terminal hung up");
	else if (c->last_key == CTRL_D)
		handle_line(c, NULL);
	else if (c->line_done && !c->quitting)
		rl_callback_handler_install(PROMPT, on_typed_line); /* see on_typed_line */
}

static void read_input(struct client *c)
{
	if (c->tty) {
		read_terminal_key(c);
		return;
	}
	char line[CHAT_DATAGRAM_MAX + 2];
	read_plain_input(c, false);
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
		/* A live terminal never reports these; one that hung up does,
		 * beside POLLIN, and may never read as the end of input. */
		if (c->tty && (pfd[1].revents & (POLLHUP | POLLERR | POLLNVAL)))
			input_gone(c, "the terminal hung up");
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
		rl_callback_handler_install(PROMPT, on_typed_line);
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

/* libedit turns the prompt and the line into wide characters with the C
 * library's multibyte functions. In the "C" locale every program starts
 * in, a UTF-8 prompt (the notes' 输入你的ID:) makes libedit 3.1 crash,
 * and typed Chinese could not be edited. The room's text is UTF-8, so the
 * client edits in UTF-8: the user's locale if it is UTF-8, else C.UTF-8;
 * false if neither exists (then an ASCII prompt, bytes as they come). */
static bool use_utf8(void)
{
	const char *set = setlocale(LC_CTYPE, "");
	if (set && !strcmp(nl_langinfo(CODESET), "UTF-8"))
		return true;
	return setlocale(LC_CTYPE, "C.UTF-8") && !strcmp(nl_langinfo(CODESET), "UTF-8");
}

int chat_client_run(const struct chat_options *options)
{
	static struct client c;
	c = (struct client){.server = &options->addr,
			    .tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)};
	the_client = &c;
	c.utf8 = c.tty && use_utf8();
	rl_getc_function = read_key; /* before libedit's first use */
	if (open_socket(&c) < 0)
		return 1;
	if (log_in(&c, options->name))
		chat(&c);
	close(c.fd);
	return c.status;
}
