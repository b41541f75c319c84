/* tour_coro.c: the tour's coroutine scene: the notes' greenlet eat and
 * play taking turns on one thread, and the price of a switch. */
#include <stdio.h>
#include <time.h>

#include "mtask/coro.h"
#include "tour.h"

static mt_coro *eater, *player;

static void *eat(void *name)
{
	printf("  %s eat 1 (吃)\n", (char *)name);
	mt_coro_switch(player, "egon");
	printf("  %s eat 2 (吃)\n", (char *)name);
	mt_coro_switch(player, NULL);
	return NULL;
}

static void *play(void *name)
{
	printf("  %s play 1 (玩)\n", (char *)name);
	mt_coro_switch(eater, NULL);
	printf("  %s play 2 (玩)\n", (char *)name);
	return "play finished";
}

static void *bounce(void *arg)
{
	mt_coro *parent = mt_coro_parent(mt_coro_current());
	for (;;)
		mt_coro_switch(parent, NULL);
	return NULL;
}

/* Nanoseconds per switch, over a million switches to bounce and back. */
static double switch_cost(void)
{
	mt_coro *c;
	if (mt_coro_new(&c, bounce, 0))
		return 0;
	enum { ROUNDS = 500000 };
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < ROUNDS; i++)
		mt_coro_switch(c, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	mt_coro_free(c);
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
	       (2.0 * ROUNDS);
}

void tour_greenlet(void)
{
	if (mt_coro_new(&eater, eat, 0) || mt_coro_new(&player, play, 0))
		return;
	const char *result = mt_coro_switch(eater, "egon");
	printf("  back in main: \"%s\" (play ended and returned to its parent)\n", result);
	mt_coro_free(eater);
	mt_coro_free(player);
	printf("  one switch costs about %.0f ns here: no system call, no thread\n",
	       switch_cost());
}
