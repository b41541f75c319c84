/* cmd_chat.c: the arguments of `mtask chat-server` and `mtask chat`, the
 * notes' UDP chat room; the work is in chat_server.c and chat_client.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "chat_proto.h"
#include "chat_room.h"
#include "cli.h"

#define SERVER "chat-server"
#define CLIENT "chat"

static void print_server_help(void)
{
	printf("usage: mtask chat-server [--host H] [--port P] [--max-users N] [--idle S]\n\n"
	       "The notes' UDP chat room server (聊天室), wire-compatible with their\n"
	       "Python client: L name logs in, C name text speaks to everyone else,\n"
	       "Q name leaves. Each line typed on standard input goes to everyone as\n"
	       "the admin, %s. Hardened: a user cannot speak or leave under another\n"
	       "user's name, malformed datagrams get an error reply and change nothing.\n"
	       "SIGINT (Ctrl-C) or SIGTERM stops it.\n\n"
	       "options:\n"
	       "  --host H         address to listen on (default 0.0.0.0: all)\n"
	       "  --port P         UDP port (default %d; 0: any free port, printed)\n"
	       "  --max-users N    users the room holds (default %d)\n"
	       "  --idle S         when the room is full, a login evicts the user quiet\n"
	       "                   longest if quiet for S seconds (default %.0f)\n\n"
	       "docs/chat.md describes the protocol and the hardening.\n",
	       CHAT_ADMIN_NAME, CHAT_DEFAULT_PORT, CHAT_ROOM_DEFAULT_USERS, CHAT_ROOM_DEFAULT_IDLE);
}

static void print_client_help(void)
{
	printf("usage: mtask chat [--host H] [--port P] [NAME]\n\n"
	       "The notes' chat room client, wire-compatible with their Python server.\n"
	       "Logs in as NAME (asked for when missing or taken), then sends each line\n"
	       "typed and shows what the others say above the line being typed. 'quit',\n"
	       "Ctrl-C, Ctrl-D, the end of input, SIGTERM, SIGHUP or a terminal that\n"
	       "hung up (said on stderr) leaves the room.\n\n"
	       "options:\n"
	       "  --host H   the server's host (default 127.0.0.1)\n"
	       "  --port P   the server's UDP port (default %d)\n\n"
	       "docs/chat.md describes the protocol.\n",
	       CHAT_DEFAULT_PORT);
}

/* Resolves host (a name or a dotted address) to IPv4, as the notes'
 * AF_INET socket needs. */
static int resolve(const char *command, const char *host, struct sockaddr_in *addr)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM}, *found;
	int err = getaddrinfo(host, NULL, &hints, &found);
	if (err)
		return cli_usage_error(command, "cannot resolve host '%s': %s", host,
				       gai_strerror(err));
	addr->sin_family = AF_INET;
	addr->sin_addr = ((const struct sockaddr_in *)found->ai_addr)->sin_addr;
	freeaddrinfo(found);
	return 0;
}

static int parse_port(const char *command, const char *text, long min, struct sockaddr_in *addr)
{
	long port;
	if (!cli_parse_long(text, min, 65535, &port))
		return cli_usage_error(command, "--port wants %ld-65535, not '%s'", min, text);
	addr->sin_port = htons((uint16_t)port);
	return 0;
}

static int parse_idle(const char *text, double *out)
{
	char *end;
	errno = 0;
	double value = strtod(text, &end);
	if (errno || end == text || *end || !isfinite(value) || value < 0)
		return cli_usage_error(SERVER, "--idle wants seconds >= 0, not '%s'", text);
	*out = value;
	return 0;
}

enum { OPT_HOST = 256, OPT_PORT, OPT_MAX_USERS, OPT_IDLE, OPT_HELP };

static const struct option options[] = {
	{"host", required_argument, NULL, OPT_HOST},
	{"port", required_argument, NULL, OPT_PORT},
	{"max-users", required_argument, NULL, OPT_MAX_USERS},
	{"idle", required_argument, NULL, OPT_IDLE},
	{"help", no_argument, NULL, OPT_HELP},
	{0},
};

/* One option; returns 0, CLI_EXIT_USAGE, or -1 for --help. */
static int apply_option(const char *command, int opt, const char *value, struct chat_options *o,
			const char **host)
{
	bool server = !strcmp(command, SERVER);
	long number;
	switch (opt) {
	case OPT_HOST:
		*host = value;
		return 0;
	case OPT_PORT:
		return parse_port(command, value, server ? 0 : 1, &o->addr);
	case OPT_MAX_USERS:
		if (!cli_parse_long(value, 1, 65536, &number))
			return cli_usage_error(command, "--max-users wants 1-65536, not '%s'",
					       value);
		o->max_users = (size_t)number;
		return 0;
	case OPT_IDLE:
		return parse_idle(value, &o->idle_seconds);
	default:
		return -1;
	}
}

/* Returns 0, CLI_EXIT_USAGE after a one-line error, or -1 for --help. */
static int parse_args(const char *command, int argc, char **argv, struct chat_options *o)
{
	bool server = !strcmp(command, SERVER);
	const char *host = server ? "0.0.0.0" : "127.0.0.1";
	*o = (struct chat_options){.max_users = CHAT_ROOM_DEFAULT_USERS,
				   .idle_seconds = CHAT_ROOM_DEFAULT_IDLE};
	o->addr.sin_port = htons(CHAT_DEFAULT_PORT);
	int opt, err;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == ':')
			return cli_usage_error(command, "%s needs a value", argv[optind - 1]);
		bool for_server_only = opt == OPT_MAX_USERS || opt == OPT_IDLE;
		if (opt == '?' || (for_server_only && !server))
			return cli_usage_error(command, "unknown option '%s'", argv[optind - 1]);
		if ((err = apply_option(command, opt == 'h' ? OPT_HELP : opt, optarg, o, &host)))
			return err;
	}
	if (!server && optind < argc)
		o->name = argv[optind++];
	if (optind < argc)
		return cli_usage_error(command, "unexpected argument '%s'", argv[optind]);
	return resolve(command, host, &o->addr);
}

/* NAME as the server would take it: "L NAME" must parse. */
static int check_name(const char *name)
{
	char login[CHAT_DATAGRAM_MAX + 1];
	struct chat_request req;
	int len = chat_format_login(login, sizeof login, name);
	enum chat_error err = len < 0 ? CHAT_ERR_NAME_LONG : chat_parse(login, (size_t)len, &req);
	if (err)
		return cli_usage_error(CLIENT, "bad NAME '%s': %s", name, chat_error_reason(err));
	return 0;
}

int cmd_chat_server(int argc, char **argv)
{
	struct chat_options o;
	int err = parse_args(SERVER, argc, argv, &o);
	if (err < 0)
		print_server_help();
	return err ? (err < 0 ? 0 : err) : chat_server_run(&o);
}

int cmd_chat(int argc, char **argv)
{
	struct chat_options o;
	int err = parse_args(CLIENT, argc, argv, &o);
	if (!err && o.name)
		err = check_name(o.name);
	if (err < 0)
		print_client_help();
	return err ? (err < 0 ? 0 : err) : chat_client_run(&o);
}
