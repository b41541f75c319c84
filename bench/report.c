/* report.c: what `mtask bench` prints: the machine, then per benchmark a
 * table for people or a JSON object for programs, with the same figures:
 * median, 10th and 90th percentile per operation, ratio to the floor, and
 * the targets the benchmark checks. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"
#include "json_out.h"
#include "mtask/common.h"

struct machine {
	char kernel[128]; /* uname -sr */
	long cpus;	  /* online CPUs */
	char model[128];  /* /proc/cpuinfo's first "model name" */
};

static void read_cpu_model(char *out, size_t size)
{
	snprintf(out, size, "unknown CPU");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	char line[256];
	while (fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) || !colon)
			continue;
		colon += 1 + strspn(colon + 1, " \t");
		snprintf(out, size, "%.*s", (int)strcspn(colon, "\n"), colon);
		break;
	}
	fclose(f);
}

static void describe_machine(struct machine *m)
{
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(m->kernel, sizeof m->kernel, "%s %s", u.sysname, u.release);
	else
		snprintf(m->kernel, sizeof m->kernel, "unknown kernel");
	m->cpus = sysconf(_SC_NPROCESSORS_ONLN);
	read_cpu_model(m->model, sizeof m->model);
}

/* ---- figures ---- */

/* The q-quantile of a row's sorted samples, interpolating between the two
 * nearest ranks. NAN when the row has none. */
static double quantile(const struct bench_row *row, double q)
{
	if (!row->count)
		return NAN;
	double pos = q * (double)(row->count - 1);
	size_t lo = (size_t)pos;
	size_t hi = lo + 1 < row->count ? lo + 1 : lo;
	double frac = pos - (double)lo;
	return (double)row->ns[lo] * (1 - frac) + (double)row->ns[hi] * frac;
}

static double median(const struct bench_row *row)
{
	return quantile(row, 0.5);
}

/* The reference row of row's operation, or NULL. */
static const struct bench_row *reference_of(const struct bench_result *result,
					    const struct bench_row *row)
{
	for (int i = 0; i < result->row_count; i++) {
		const struct bench_row *ref = &result->rows[i];
		if (ref->reference && !strcmp(ref->operation, row->operation))
			return ref;
	}
	return NULL;
}

/* row's median over its floor's median; NAN when either is missing. */
static double ratio_to_reference(const struct bench_result *result, const struct bench_row *row)
{
	const struct bench_row *ref = reference_of(result, row);
	if (!ref || !ref->count || !row->count)
		return NAN;
	return median(row) / median(ref);
}

static double target_ratio(const struct bench_result *result, const struct bench_target *t)
{
	const struct bench_row *row = &result->rows[t->row];
	const struct bench_row *versus = &result->rows[t->versus];
	if (!row->count || !versus->count)
		return NAN;
	return median(row) / median(versus);
}

static const char *comparison_sign(const struct bench_target *t)
{
	return t->comparison == BENCH_AT_MOST ? "<=" : ">=";
}

static bool target_met(const struct bench_target *t, double ratio)
{
	return t->comparison == BENCH_AT_MOST ? ratio <= t->bound : ratio >= t->bound;
}

static const char *verdict(const struct bench_target *t, double ratio)
{
	if (isnan(ratio))
		return "not measured";
	return target_met(t, ratio) ? "met" : "NOT MET";
}

/* ---- the table ---- */

/* Three significant digits in the unit that fits: 662 us, 48.2 us, 12.9 ms. */
static void format_duration(char *out, size_t size, double ns)
{
	static const char *const units[] = {"ns", "us", "ms", "s"};
	int unit = 0;
	while (unit < 3 && ns >= 999.5) {
		ns /= 1000;
		unit++;
	}
	int decimals = ns < 9.995 ? 2 : ns < 99.95 ? 1 : 0;
	snprintf(out, size, "%.*f %s", decimals, ns, units[unit]);
}

static void format_ratio(char *out, size_t size, double ratio)
{
	if (isnan(ratio))
		snprintf(out, size, "-");
	else
		snprintf(out, size, "%.*fx", ratio < 9.995 ? 2 : ratio < 99.95 ? 1 : 0, ratio);
}

void bench_print_machine(void)
{
	struct machine m;
	describe_machine(&m);
	printf("mtask %s on %s, %ld CPUs (%s)\n", mt_version(), m.kernel, m.cpus, m.model);
}

static void print_row(const struct bench_result *result, const struct bench_row *row,
		      bool first_of_operation, int operation_width, int implementation_width)
{
	printf("  %-*s  %-*s", operation_width, first_of_operation ? row->operation : "",
	       implementation_width, row->implementation);
	if (row->skipped[0]) {
		printf("  skipped (%s)\n", row->skipped);
		return;
	}
	char med[16], p10[16], p90[16], ratio[16];
	format_duration(med, sizeof med, median(row));
	format_duration(p10, sizeof p10, quantile(row, 0.1));
	format_duration(p90, sizeof p90, quantile(row, 0.9));
	format_ratio(ratio, sizeof ratio, ratio_to_reference(result, row));
	printf("  %9s  %9s  %9s  %8s  %7zu\n", med, p10, p90, ratio, row->count);
}

static void print_targets(const struct bench_result *result)
{
	if (!result->target_count)
		return;
	int width = 0;
	for (int i = 0; i < result->target_count; i++) {
		int len = (int)strlen(result->targets[i].label);
		width = len > width ? len : width;
	}
	printf("\n  targets:\n");
	for (int i = 0; i < result->target_count; i++) {
		const struct bench_target *t = &result->targets[i];
		double ratio = target_ratio(result, t);
		char value[16];
		format_ratio(value, sizeof value, ratio);
		printf("    %-*s  %7s  (target %s %gx)  %s\n", width, t->label, value,
		       comparison_sign(t), t->bound, verdict(t, ratio));
	}
}

void bench_print_table(const struct bench_result *result)
{
	int operation_width = (int)strlen("operation");
	int implementation_width = (int)strlen("implementation");
	for (int i = 0; i < result->row_count; i++) {
		int op = (int)strlen(result->rows[i].operation);
		int impl = (int)strlen(result->rows[i].implementation);
		operation_width = op > operation_width ? op : operation_width;
		implementation_width = impl > implementation_width ? impl : implementation_width;
	}
	printf("\n%s: %s\n", result->name, result->summary);
	if (result->peers[0])
		printf("peers: %s\n", result->peers);
	printf("\n  %-*s  %-*s  %9s  %9s  %9s  %8s  %7s\n", operation_width, "operation",
	       implementation_width, "implementation", "median", "p10", "p90", "vs floor",
	       "samples");
	for (int i = 0; i < result->row_count; i++) {
		const struct bench_row *row = &result->rows[i];
		bool first = i == 0 || strcmp(row->operation, result->rows[i - 1].operation);
		print_row(result, row, first, operation_width, implementation_width);
	}
	print_targets(result);
}

/* ---- JSON ---- */

/* A number with `decimals` digits after the point, or null for NAN (JSON
 * has no NaN). */
static void json_number(double value, int decimals)
{
	if (isnan(value))
		printf("null");
	else
		printf("%.*f", decimals, value);
}

static void json_row(const struct bench_result *result, const struct bench_row *row)
{
	printf("{\"operation\": ");
	json_string(stdout, row->operation);
	printf(", \"implementation\": ");
	json_string(stdout, row->implementation);
	printf(", \"reference\": %s, \"samples\": %zu", row->reference ? "true" : "false",
	       row->count);
	printf(", \"median_ns\": ");
	json_number(median(row), 0);
	printf(", \"p10_ns\": ");
	json_number(quantile(row, 0.1), 0);
	printf(", \"p90_ns\": ");
	json_number(quantile(row, 0.9), 0);
	printf(", \"ratio\": ");
	json_number(ratio_to_reference(result, row), 4);
	printf(", \"skipped\": ");
	if (row->skipped[0])
		json_string(stdout, row->skipped);
	else
		printf("null");
	printf("}");
}

static void json_target(const struct bench_result *result, const struct bench_target *t)
{
	double ratio = target_ratio(result, t);
	printf("{\"label\": ");
	json_string(stdout, t->label);
	printf(", \"row\": ");
	json_string(stdout, result->rows[t->row].implementation);
	printf(", \"versus\": ");
	json_string(stdout, result->rows[t->versus].implementation);
	printf(", \"ratio\": ");
	json_number(ratio, 4);
	printf(", \"comparison\": \"%s\", \"bound\": ", comparison_sign(t));
	json_number(t->bound, 4);
	printf(", \"met\": %s}", isnan(ratio) ? "null" : target_met(t, ratio) ? "true" : "false");
}

void bench_print_json_begin(void)
{
	struct machine m;
	describe_machine(&m);
	printf("{\"mtask\": ");
	json_string(stdout, mt_version());
	printf(", \"machine\": {\"kernel\": ");
	json_string(stdout, m.kernel);
	printf(", \"cpus\": %ld, \"cpu_model\": ", m.cpus);
	json_string(stdout, m.model);
	printf("},\n \"benchmarks\": [");
}

void bench_print_json(const struct bench_result *result, bool first)
{
	printf("%s\n  {\"name\": ", first ? "" : ",");
	json_string(stdout, result->name);
	printf(", \"summary\": ");
	json_string(stdout, result->summary);
	printf(", \"peers\": ");
	json_string(stdout, result->peers);
	printf(",\n   \"rows\": [");
	for (int i = 0; i < result->row_count; i++) {
		printf("%s\n    ", i ? "," : "");
		json_row(result, &result->rows[i]);
	}
	printf("],\n   \"targets\": [");
	for (int i = 0; i < result->target_count; i++) {
		printf("%s\n    ", i ? "," : "");
		json_target(result, &result->targets[i]);
	}
	printf("]}");
}

void bench_print_json_end(void)
{
	printf("\n]}\n");
}
