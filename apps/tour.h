/* tour.h: what the files of `mtask tour` share: the scenes that live
 * outside cmd_tour.c, and the runner that plays them all. */
#ifndef MTASK_TOUR_H
#define MTASK_TOUR_H

#include <stdbool.h>
#include <stdio.h>

/* One scene of the tour: its title and the function that plays it,
 * printing to stdout. */
struct tour_scene {
	const char *title;
	void (*run)(void);
};

/* tour_run.c: plays the scenes in order (only scene `only` when it is not
 * 0, numbered from 1), each in a process of its own, bounded in time; on a
 * terminal with a progress line on stderr. Prints each scene's heading and
 * output, or with `json` one JSON document of the scenes' outcomes and the
 * table's figures. Returns 0 when every scene ended well, else 1. */
int tour_run(const struct tour_scene *scenes, int count, int only, bool json);

/* tour_queues.c */
void tour_queues(void);
void tour_producer_customer(void);
void tour_pipe_value_array(void);

/* tour_pool.c */
void tour_pool(void);
void tour_primes(void);

/* tour_coro.c */
void tour_greenlet(void);

/* cmd_sched.c */
void tour_sched(void);

/* tour_hub.c */
void tour_gevent(void);

/* tour_table.c */
void tour_table(void);
/* Makes the figures that the next tour_table measures readable in this
 * process: call it before the table's scene process starts. */
void tour_table_share(void);
/* Writes those figures as a JSON object (seconds), or null when none were
 * measured. */
void tour_table_print_json(FILE *out);

#endif
