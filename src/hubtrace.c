/* hubtrace.c: the hub's events in the trace (trace.h): greenlet runs and
 * waits. Called only while tracing is on, so the hub's paths pay one
 * predictable branch on mt__trace_on() when it is off.
 *
 * Runs and waits go on different tracks because they overlap: while one
 * greenlet waits, others run. A run is a complete span ("X") on its
 * thread's track, named after the greenlet; runs of one thread never
 * overlap, so the track reads as which greenlet had the CPU when. A wait
 * is a nestable async span ("b"/"e") keyed by the waiting greenlet, so
 * that each greenlet's waits line up on a track of their own; code
 * outside greenlets waits on one track per thread. */
#include <stdio.h>
#include <unistd.h>

#include "hub_private.h"

void mt__hub_trace_run_end(mt_greenlet *g, int exitcode)
{
	double start = g->run_start_us;
	g->run_start_us = 0;
	if (start > 0) /* 0: tracing started during this run */
		mt__trace_span("greenlet", mt_greenlet_name(g), getpid(), mt__tid(), start,
			       mt__now_us(), exitcode);
}

static const char *fd_direction(struct mt__hub *h, const struct mt__waiter *w)
{
	const struct mt__fd_slot *s = &h->fds[w->fd];
	if (s->reader == w && s->writer == w)
		return "read/write";
	return s->writer == w ? "write" : "read";
}

void mt__hub_trace_describe(struct mt__hub *h, const struct mt__waiter *w, char *buf, size_t size)
{
	if (w->fd >= 0)
		snprintf(buf, size, "%s fd %d", fd_direction(h, w), w->fd);
	else if (w->joined)
		snprintf(buf, size, "join %s", mt_greenlet_name(w->joined));
	else
		snprintf(buf, size, "%s", w->what ? w->what : "wait");
}

void mt__hub_trace_wait(struct mt__hub *h, mt_greenlet *g, const char *what, double start_us,
			int result)
{
	/* A track per greenlet (numbered, since records are reused) and
	 * one for the code outside greenlets, unique in the process. */
	if (g && !g->trace_id)
		g->trace_id = ++h->trace_ids;
	uint64_t id = (uint64_t)mt__tid() << 32 | (g ? g->trace_id : 0);
	const char *owner = g ? mt_greenlet_name(g) : "outside greenlets";
	mt__trace_async_wait("hub", what, id, owner, start_us, result);
}
