/* tour.h: the scenes of `mtask tour` that live outside cmd_tour.c. */
#ifndef MTASK_TOUR_H
#define MTASK_TOUR_H

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

#endif
