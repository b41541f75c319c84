/* cmd_bench.c: `mtask bench`: runs the benchmarks of bench/, each beside
 * its peers in the same run, and prints their tables or JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "progress.h"

#define COMMAND "bench"

struct bench_args {
	struct bench_config config;
	bool json;
	bool list;
	bool help;
	bool selected[BENCH_COUNT]; /* by index in bench_registry */
	bool any_selected;
};

static void print_help(void)
{
	printf("usage: mtask bench [NAME...] [--json] [--quick] [--rounds N] [--list]\n\n"
	       "Runs benchmarks (all of them without NAME), each measuring mtask beside\n"
	       "its peers (raw syscalls, Python) in the same run, in interleaved rounds,\n"
	       "and prints per operation the median, 10th and 90th percentile times, the\n"
	       "ratio to the floor and the targets the benchmark checks.\n\n"
	       "options:\n"
	       "  --json       print one JSON document instead of tables\n"
	       "  --quick      few rounds of small batches: a smoke test of seconds\n"
	       "  --rounds N   interleaved rounds (1-1000) instead of the default\n"
	       "  --list       list the benchmarks and exit\n\n"
	       "environment:\n"
	       "  MTASK_PYTHON       the Python interpreter for the peers (default python3)\n"
	       "  MTASK_BENCH_PEERS  the directory of the peer scripts (default %s)\n\n"
	       "benchmarks:\n",
	       MTASK_BENCH_PEERS_DIR);
	for (int i = 0; i < BENCH_COUNT; i++)
		printf("  %-8s %s\n", bench_registry[i].name, bench_registry[i].summary);
}

static void list_benchmarks(void)
{
	for (int i = 0; i < BENCH_COUNT; i++)
		printf("%s\t%s\n", bench_registry[i].name, bench_registry[i].summary);
}

static int select_benchmark(struct bench_args *args, const char *name)
{
	const struct bench *b = bench_find(name);
	if (!b)
		return cli_usage_error(COMMAND, "unknown benchmark '%s'", name);
	args->selected[b - bench_registry] = true;
	args->any_selected = true;
	return 0;
}

/* Returns 0, or CLI_EXIT_USAGE after a one-line error on stderr. */
static int parse_args(int argc, char **argv, struct bench_args *args)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		long rounds;
		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			args->help = true;
		} else if (!strcmp(arg, "--json")) {
			args->json = true;
		} else if (!strcmp(arg, "--quick")) {
			args->config.quick = true;
		} else if (!strcmp(arg, "--list")) {
			args->list = true;
		} else if (!strcmp(arg, "--rounds")) {
			if (++i == argc)
				return cli_usage_error(COMMAND, "--rounds needs a number");
			if (!cli_parse_long(argv[i], 1, 1000, &rounds))
				return cli_usage_error(COMMAND, "--rounds wants 1-1000, not '%s'",
						       argv[i]);
			args->config.rounds = (int)rounds;
		} else if (arg[0] == '-') {
			return cli_usage_error(COMMAND, "unknown option '%s'", arg);
		} else if (select_benchmark(args, arg)) {
			return CLI_EXIT_USAGE;
		}
	}
	return 0;
}

/* Runs one benchmark and prints its report; 0, or 1 when it failed. */
static int run_one(const struct bench *b, const struct bench_args *args, bool first)
{
	struct bench_result result = {.name = b->name, .summary = b->summary};
	int err = b->run(&args->config, &result);
	if (err) {
		fprintf(stderr, "mtask bench: %s failed\n", b->name);
	} else if (args->json) {
		bench_print_json(&result, first);
	} else {
		bench_print_table(&result);
	}
	fflush(stdout);
	bench_result_free(&result);
	return err ? 1 : 0;
}

int cmd_bench(int argc, char **argv)
{
	const char *mpi_rank = getenv("MTASK_BENCH_MPI_RANK");
	if (mpi_rank) /* `mtask bench mpi` started this under mpirun */
		return bench_mpi_rank(mpi_rank);
	struct bench_args args = {0};
	int err = parse_args(argc, argv, &args);
	if (err)
		return err;
	if (args.help || args.list) {
		args.help ? print_help() : list_benchmarks();
		return 0;
	}
	/* The progress line goes to stderr: shown there even while the JSON
	 * on stdout goes to a file, as `make bench` does. */
	args.config.progress = progress_wanted();
	if (args.json)
		bench_print_json_begin();
	else
		bench_print_machine();
	fflush(stdout); /* before the benchmarks fork */
	bool first = true;
	for (int i = 0; i < BENCH_COUNT && !err; i++) {
		if (args.any_selected && !args.selected[i])
			continue;
		err = run_one(&bench_registry[i], &args, first);
		first = false;
	}
	if (args.json && !err)
		bench_print_json_end();
	return err;
}
