/* cmd_serve.c: the arguments of `mtask serve`; the server is serve.c (the
 * connection handler) and serve_models.c (the four models). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "serve.h"

#define COMMAND "serve"

static void print_help(void)
{
	printf("usage: mtask serve --model fork|thread|pool|coro [--proto echo|http]\n"
	       "                   [--workers K] [--host H] [--port P] [--timeout S]\n\n"
	       "The notes' concurrent TCP server, in one of four models:\n"
	       "  fork     a child process per connection (reaped: no zombies)\n"
	       "  thread   a thread per connection\n"
	       "  pool     K threads taking accepted connections from a queue\n"
	       "  coro     K threads, each a hub with its own SO_REUSEPORT listener,\n"
	       "           a greenlet per connection\n"
	       "answering echo (every byte back) or minimal HTTP/1.1: keep-alive,\n"
	       "pipelined requests answered in order, \"%s\" for every\n"
	       "request, 400/413/431/505 for bad ones, 8 KiB heads, 64 fields.\n"
	       "SIGINT (Ctrl-C) or SIGTERM stops it: it stops accepting, ends the\n"
	       "connections and exits 0.\n\n"
	       "options:\n"
	       "  --model M      fork, thread, pool or coro (required)\n"
	       "  --proto P      echo or http (default http)\n"
	       "  --workers K    pool threads (default %d) or coro hubs (default 1)\n"
	       "  --host H       IPv4 address to listen on (default 127.0.0.1)\n"
	       "  --port P       TCP port (default %d; 0: any free port, printed)\n"
	       "  --timeout S    seconds a client may stay idle or take to send a\n"
	       "                 request head (default %.0f)\n\n"
	       "Try: mtask serve --model coro --port 8080 & curl -v localhost:8080/\n"
	       "docs/serve.md describes the models and the protocol rules.\n",
	       "Hello, world!", SERVE_DEFAULT_POOL_WORKERS, SERVE_DEFAULT_PORT,
	       SERVE_DEFAULT_TIMEOUT);
}

static int parse_model(const char *text, struct serve_options *o)
{
	static const char *const names[] = {"fork", "thread", "pool", "coro"};
	for (int i = 0; i < 4; i++)
		if (!strcmp(text, names[i])) {
			o->model = (enum serve_model)i;
			return 0;
		}
	return cli_usage_error(COMMAND, "--model wants fork, thread, pool or coro, not '%s'", text);
}

static int parse_proto(const char *text, struct serve_options *o)
{
	if (!strcmp(text, "echo") || !strcmp(text, "http")) {
		o->proto = text[0] == 'e' ? SERVE_ECHO : SERVE_HTTP;
		return 0;
	}
	return cli_usage_error(COMMAND, "--proto wants echo or http, not '%s'", text);
}

static int parse_timeout(const char *text, struct serve_options *o)
{
	char *end;
	errno = 0;
	double value = strtod(text, &end);
	if (errno || end == text || *end || !isfinite(value) || value <= 0 || value > 86400)
		return cli_usage_error(COMMAND, "--timeout wants seconds in (0, 86400], not '%s'",
				       text);
	o->timeout = value;
	return 0;
}

enum { OPT_MODEL = 256, OPT_PROTO, OPT_WORKERS, OPT_HOST, OPT_PORT, OPT_TIMEOUT, OPT_HELP };

static const struct option options[] = {
	{"model", required_argument, NULL, OPT_MODEL},
	{"proto", required_argument, NULL, OPT_PROTO},
	{"workers", required_argument, NULL, OPT_WORKERS},
	{"host", required_argument, NULL, OPT_HOST},
	{"port", required_argument, NULL, OPT_PORT},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"help", no_argument, NULL, OPT_HELP},
	{0},
};

/* One option; returns 0, CLI_EXIT_USAGE, or -1 for --help. */
static int apply_option(int opt, const char *value, struct serve_options *o)
{
	long number;
	switch (opt) {
	case OPT_MODEL:
		return parse_model(value, o);
	case OPT_PROTO:
		return parse_proto(value, o);
	case OPT_WORKERS:
		if (!cli_parse_long(value, 1, 1024, &number))
			return cli_usage_error(COMMAND, "--workers wants 1-1024, not '%s'", value);
		o->workers = (int)number;
		return 0;
	case OPT_HOST:
		if (inet_pton(AF_INET, value, &o->addr.sin_addr) != 1)
			return cli_usage_error(COMMAND, "--host wants an IPv4 address, not '%s'",
					       value);
		return 0;
	case OPT_PORT:
		if (!cli_parse_long(value, 0, 65535, &number))
			return cli_usage_error(COMMAND, "--port wants 0-65535, not '%s'", value);
		o->addr.sin_port = htons((uint16_t)number);
		return 0;
	case OPT_TIMEOUT:
		return parse_timeout(value, o);
	default:
		return -1;
	}
}

/* The rules between options, once all are read. */
static int check_options(bool have_model, struct serve_options *o)
{
	if (!have_model)
		return cli_usage_error(COMMAND, "missing --model (fork, thread, pool or coro)");
	bool sized = o->model == SERVE_POOL || o->model == SERVE_CORO;
	if (o->workers && !sized)
		return cli_usage_error(COMMAND, "--workers is for the pool and coro models");
	if (!o->workers)
		o->workers = o->model == SERVE_POOL ? SERVE_DEFAULT_POOL_WORKERS : 1;
	return 0;
}

/* Returns 0, CLI_EXIT_USAGE after a one-line error, or -1 for --help. */
static int parse_args(int argc, char **argv, struct serve_options *o)
{
	*o = (struct serve_options){
		.proto = SERVE_HTTP,
		.addr = {.sin_family = AF_INET, .sin_port = htons(SERVE_DEFAULT_PORT)},
		.timeout = SERVE_DEFAULT_TIMEOUT,
		.limits = {HTTP_HEAD_MAX_DEFAULT, HTTP_FIELDS_MAX_DEFAULT, HTTP_BODY_MAX_DEFAULT},
	};
	o->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool have_model = false;
	int opt, err;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == ':')
			return cli_usage_error(COMMAND, "%s needs a value", argv[optind - 1]);
		if (opt == '?')
			return cli_usage_error(COMMAND, "unknown option '%s'", argv[optind - 1]);
		have_model |= opt == OPT_MODEL;
		if ((err = apply_option(opt == 'h' ? OPT_HELP : opt, optarg, o)))
			return err;
	}
	if (optind < argc)
		return cli_usage_error(COMMAND, "unexpected argument '%s'", argv[optind]);
	return check_options(have_model, o);
}

int cmd_serve(int argc, char **argv)
{
	struct serve_options o;
	int err = parse_args(argc, argv, &o);
	if (err < 0) {
		print_help();
		return 0;
	}
	if (err)
		return err;
	return serve_run(&o);
}
