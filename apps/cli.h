/* cli.h: what the mtask program's subcommands share: their entry points and
 * the rules for arguments (--help everywhere, one-line errors, exit 2). */
#ifndef MTASK_CLI_H
#define MTASK_CLI_H

#include <stdbool.h>

/* Exit status for bad arguments, as the command-line contract fixes it. */
#define CLI_EXIT_USAGE 2

/* Prints "mtask CMD: <message> (try 'mtask CMD --help')" on stderr and
 * returns CLI_EXIT_USAGE, for `return cli_usage_error(...)`. */
int cli_usage_error(const char *command, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parses a whole decimal number in [min, max] for option `option`. */
bool cli_parse_long(const char *text, long min, long max, long *out);

/* True when standard output is a terminal (progress and colour allowed). */
bool cli_interactive(void);

int cmd_tour(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_sched(int argc, char **argv);
int cmd_primes(int argc, char **argv);
int cmd_chat_server(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
