/* greenlet_eat_play.c: the notes' greenlet lesson (greenlet状态切换): two
 * tasks, eat and play, take turns on one thread by switching to each
 * other by hand, each resuming exactly where it stopped:
 *
 *     from greenlet import greenlet
 *     def eat(name):
 *         print('%s eat 1' % name)
 *         g2.switch('egon')
 *         print('%s eat 2' % name)
 *         g2.switch()
 *     def play(name):
 *         print('%s play 1' % name)
 *         g1.switch()
 *         print('%s play 2' % name)
 *     g1 = greenlet(eat)
 *     g2 = greenlet(play)
 *     g1.switch('egon')
 *
 * The first switch into a coroutine passes its function's argument, as
 * greenlet does. play ends first: a finished coroutine goes back to its
 * parent (main, which created it), so main goes on while eat is still
 * parked in its second switch. Then the same two tasks with a name from
 * a switch's return value, to show values travelling both ways. */
#include <stdio.h>

#include "mtask/coro.h"

static mt_coro *g1, *g2;

static void *eat(void *name)
{
	printf("%s eat 1 (吃)\n", (char *)name);
	mt_coro_switch(g2, "egon"); /* play's first switch: its argument */
	printf("%s eat 2 (吃)\n", (char *)name);
	mt_coro_switch(g2, NULL);
	printf("never printed: nobody switches back to eat\n");
	return NULL;
}

static void *play(void *name)
{
	printf("%s play 1 (玩)\n", (char *)name);
	mt_coro_switch(g1, NULL);
	printf("%s play 2 (玩)\n", (char *)name);
	return "play's result"; /* to its parent: main's switch returns it */
}

/* A task that asks its caller for names until it gets NULL. */
static void *greeter(void *first)
{
	mt_coro *caller = mt_coro_parent(mt_coro_current());
	int count = 0;
	for (char *name = first; name; count++) {
		printf("hello, %s\n", name);
		name = mt_coro_switch(caller, "next?");
	}
	printf("greeted %d\n", count);
	return NULL;
}

int main(void)
{
	if (mt_coro_new(&g1, eat, 0) || mt_coro_new(&g2, play, 0))
		return 1;
	char *result = mt_coro_switch(g1, "egon");
	printf("main got back: %s; eat dead: %s, play dead: %s\n", result,
	       mt_coro_dead(g1) ? "yes" : "no", mt_coro_dead(g2) ? "yes" : "no");
	mt_coro_free(g1); /* eat is parked: freeing it ends it */
	mt_coro_free(g2);

	mt_coro *g;
	if (mt_coro_new(&g, greeter, 0))
		return 1;
	const char *names[] = {"ming", "hong", "egon", NULL};
	for (int i = 0; !mt_coro_dead(g); i++)
		mt_coro_switch(g, (void *)names[i]);
	mt_coro_free(g);
	return 0;
}
