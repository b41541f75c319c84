/* sched_render.h: what shows a simulated schedule: the terminal's Gantt
 * chart, state rows and tables (sched_text.c), an SVG Gantt chart and a
 * Perfetto trace (sched_render.c). */
#ifndef MTASK_SCHED_RENDER_H
#define MTASK_SCHED_RENDER_H

#include <stdio.h>

#include "sched.h"

/* One run in full: the Gantt chart, each process's states over time and its
 * changes of state, the table of times with averages, CPU utilisation. */
void sched_print_run(FILE *out, const struct sched_workload *w, const struct sched_run *run);

/* Several runs of one workload: each one's Gantt chart, then a table of
 * their averages side by side. */
void sched_print_comparison(FILE *out, const struct sched_workload *w, const struct sched_run *runs,
			    int count);

/* An SVG picture of the runs: per run, the CPU's Gantt chart and a row of
 * states per process, on one time axis. Returns 0, or -EIO. */
int sched_write_svg(FILE *out, const struct sched_workload *w, const struct sched_run *runs,
		    int count);

/* The runs as a Perfetto (Chrome JSON) trace, in the format of the
 * library's own traces (docs/trace.md): one trace process per run, a CPU
 * track and one track per simulated process with spans named by state; a
 * simulated time unit is a millisecond. Returns 0, or -EIO. */
int sched_write_trace(FILE *out, const struct sched_workload *w, const struct sched_run *runs,
		      int count);

#endif
