/* main.c: the mtask program's entry: global options and subcommand
 * dispatch. Each subcommand lives in its own cmd_*.c file. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mtask/mtask.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{"tour", cmd_tour, "every scenario of the notes, in order, with measured times"},
	{"bench", cmd_bench, "benchmarks, each beside its peers measured in the same run"},
	{"sched", cmd_sched, "the notes' scheduling algorithms simulated: Gantt chart, times"},
	{"primes", cmd_primes, "sum of the primes below N with 1..K processes, threads or pool workers"},
	{"chat-server", cmd_chat_server, "the notes' UDP chat room server; stdin lines are 管理员's"},
	{"chat", cmd_chat, "the notes' chat room client, with line editing"},
	{"serve", cmd_serve, "the notes' TCP server, echo or HTTP: fork, thread, pool or coro"},
};

int cli_usage_error(const char *command, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "mtask%s%s: ", command ? " " : "", command ? command : "");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (try 'mtask%s%s --help')\n", command ? " " : "",
		command ? command : "");
	va_end(ap);
	return CLI_EXIT_USAGE;
}

bool cli_parse_long(const char *text, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long value = strtol(text, &end, 10);
	if (errno || end == text || *end || value < min || value > max)
		return false;
	*out = value;
	return true;
}

bool cli_interactive(void)
{
	return isatty(STDOUT_FILENO);
}

static void print_help(void)
{
	printf("usage: mtask [--version] [--help] COMMAND [ARGS...]\n\n"
	       "mtask %s: Python's multitasking toolkit (os.fork, multiprocessing,\n"
	       "threading, queue, concurrent.futures, greenlet, gevent) in C.\n\n"
	       "commands:\n",
	       mt_version());
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		printf("  %-12s %s\n", commands[i].name, commands[i].summary);
	printf("\n'mtask COMMAND --help' describes a command.\n"
	       "Set MTASK_TRACE=FILE to record a Perfetto timeline of any command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error(NULL, "missing command");
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		print_help();
		return 0;
	}
	if (!strcmp(name, "--version")) {
		printf("mtask %s\n", mt_version());
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(name, commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	if (name[0] == '-')
		return cli_usage_error(NULL, "unknown option '%s'", name);
	return cli_usage_error(NULL, "unknown command '%s'", name);
}
