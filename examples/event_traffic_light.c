/* event_traffic_light.c: the notes' 事件, event = threading.Event(), with
 * event.clear() "红灯" (red light) and event.set() "绿灯" (green light): a
 * light thread turns one mt_event red and green; cars (threads) that find
 * it red wait in mt_event_wait until it turns green, then pass. The 2 s
 * phases of the usual Python version are 60 ms here, and the light stops,
 * green, after two cycles, so every car gets through and the program ends. */
#include <stdio.h>
#include <time.h>

#include "mtask/sync.h"
#include "mtask/thread.h"

enum { CARS = 8, CYCLES = 2, PHASE_MS = 60, CAR_GAP_MS = 30 };

static mt_event green = MT_EVENT_INIT; /* starts clear: red */
/* The light starts its cycles once the first car has looked at it, so the
 * first car meets a red light however slowly threads start. */
static mt_event first_car_looked = MT_EVENT_INIT;
/* Held while the light changes and prints, and while a car looks at the
 * light and says it waits: so a "waiting" line always comes before the
 * "绿灯" that lets that car go. It is not needed for the event itself. */
static mt_lock light_lock = MT_LOCK_INIT;

static void sleep_ms(long ms)
{
	struct timespec pause = {0, ms * 1000 * 1000};
	nanosleep(&pause, NULL);
}

static void change_light(int to_green)
{
	mt_lock_acquire(&light_lock, -1);
	if (to_green) {
		printf("绿灯 (green light): event.set()\n");
		mt_event_set(&green);
	} else {
		printf("红灯 (red light): event.clear()\n");
		mt_event_clear(&green);
	}
	mt_lock_release(&light_lock);
}

static int traffic_light(void *arg)
{
	long cycles = (long)arg;
	mt_event_wait(&first_car_looked, -1);
	for (long cycle = 0; cycle < cycles; cycle++) {
		change_light(0);
		sleep_ms(PHASE_MS);
		change_light(1);
		sleep_ms(PHASE_MS);
	}
	return 0; /* and it stays green */
}

static int car(void *arg)
{
	long id = (long)arg;

	sleep_ms(id * CAR_GAP_MS); /* cars arrive one after another */
	mt_lock_acquire(&light_lock, -1);
	if (!mt_event_is_set(&green))
		printf("car %ld 在等待 (waits at the red light)\n", id);
	mt_lock_release(&light_lock);
	if (id == 0)
		mt_event_set(&first_car_looked);

	/* Sleeps (no spinning) until set(); returns at once while green. */
	mt_event_wait(&green, -1);
	printf("car %ld 通过了 (passes)\n", id);
	return 0;
}

int main(void)
{
	mt_thread *light, *cars[CARS];

	if (mt_thread_start(&light, traffic_light, (void *)(long)CYCLES, NULL))
		return 1;
	for (long i = 0; i < CARS; i++)
		if (mt_thread_start(&cars[i], car, (void *)i, NULL))
			return 1;
	for (int i = 0; i < CARS; i++) {
		mt_thread_join(cars[i], -1);
		mt_thread_free(cars[i]);
	}
	mt_thread_join(light, -1);
	mt_thread_free(light);
	printf("all %d cars passed\n", CARS);
	return 0;
}
