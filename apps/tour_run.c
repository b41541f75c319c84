/* tour_run.c: how `mtask tour` plays its scenes.
 *
 * Each scene runs in a process of its own whose stdout is a pipe to the
 * tour. So a scene that crashes or hangs (it is killed after SCENE_TIMEOUT)
 * is reported and the tour goes on, the exit status says whether every
 * scene ended well, and the tour sees each byte a scene prints before the
 * terminal does. That is what keeps the progress line (stderr, on a
 * terminal only) out of the scenes' output: the line is erased before the
 * scene's output is copied to stdout, and drawn again below it once the
 * scene has been quiet for a tick with its last line ended. With --json,
 * the scenes' output is dropped and stdout gets one JSON document: each
 * scene's outcome as it ends, then the table's figures. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "json_out.h"
#include "mtask/mtask.h"
#include "progress.h"
#include "tour.h"

#ifndef SCENE_TIMEOUT	    /* test_tour_run sets a short one */
#define SCENE_TIMEOUT 300.0 /* seconds; the slowest scene takes ~0.6 s here, ~7 s under TSan */
#endif
#define TICK_MS 200 /* the progress line's redraw period */

struct player {
	bool json;
	bool progress;	    /* stderr is a terminal */
	bool drawn;	    /* the progress line is on it now */
	bool at_line_start; /* the scene's output so far ended with a newline */
	int number, count;  /* the scene playing, from 1, of count */
	const char *title;
	double started;
};

struct outcome {
	int exitcode; /* mt_process_exitcode's; MT_NOEXIT: it did not start */
	bool timed_out;
	double seconds;
};

static void erase_progress(struct player *pl)
{
	progress_clear(pl->drawn);
	pl->drawn = false;
}

/* Never in the middle of a row of the scene's output: the line's "\r"
 * would take the row's start with it when stdout is the same terminal. */
static void draw_progress(struct player *pl)
{
	if (!pl->progress || !pl->at_line_start)
		return;
	progress_show(true, "scene %d/%d: %s (%.1f s)", pl->number, pl->count, pl->title,
		      progress_clock() - pl->started);
	pl->drawn = true;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Copies one read of the scene's output to stdout (drops it with --json);
 * false at the pipe's end, or when a non-blocking pipe is empty. */
static bool copy_output(struct player *pl, int fd)
{
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) < 0 && errno == EINTR)
		;
	if (n <= 0)
		return false;
	if (!pl->json) {
		erase_progress(pl);
		write_all(STDOUT_FILENO, buf, (size_t)n);
		pl->at_line_start = buf[n - 1] == '\n';
	}
	return true;
}

struct stage {
	const struct tour_scene *scene;
	int pipe[2];
};

static int play_in_child(void *arg)
{
	struct stage *s = arg;
	close(s->pipe[0]);
	if (dup2(s->pipe[1], STDOUT_FILENO) < 0)
		return 127;
	close(s->pipe[1]);
	s->scene->run();
	fflush(stdout);
	return 0;
}

/* Starts the scene's process; its output comes out of *out. */
static int start_scene(const struct tour_scene *scene, mt_process **p, int *out)
{
	struct stage s = {.scene = scene};
	if (pipe2(s.pipe, O_CLOEXEC))
		return -errno;
	fflush(stdout); /* or the child would print our buffer again */
	int err = mt_process_start(p, play_in_child, &s, NULL);
	close(s.pipe[1]);
	if (err)
		close(s.pipe[0]);
	*out = s.pipe[0];
	return err;
}

/* Plays one scene: copies its output until its process ends, redraws the
 * progress line at each quiet tick, kills it after SCENE_TIMEOUT. */
static struct outcome play(struct player *pl, const struct tour_scene *scene)
{
	struct outcome o = {.exitcode = MT_NOEXIT};
	mt_process *p;
	int out = -1;
	pl->started = progress_clock();
	pl->at_line_start = true;
	if (start_scene(scene, &p, &out))
		return o;
	struct pollfd pfd[2] = {{.fd = out, .events = POLLIN},
				{.fd = mt_process_fd(p), .events = POLLIN}};
	for (;;) {
		int ready = poll(pfd, 2, TICK_MS);
		if (ready > 0 && pfd[0].revents && !copy_output(pl, out))
			pfd[0].fd = -1; /* every writer closed it: only the end is left */
		if (ready > 0 && pfd[1].revents)
			break;
		if (!o.timed_out && progress_clock() - pl->started > SCENE_TIMEOUT) {
			mt_process_kill(p);
			o.timed_out = true;
		}
		if (ready == 0)
			draw_progress(pl);
	}
	mt_process_join(p, -1);
	o.exitcode = mt_process_exitcode(p);
	mt_process_free(p);
	/* What it printed last; not what its own children still print. */
	fcntl(out, F_SETFL, O_NONBLOCK);
	while (copy_output(pl, out))
		;
	close(out);
	erase_progress(pl);
	o.seconds = progress_clock() - pl->started;
	return o;
}

static const char *status_name(const struct outcome *o)
{
	if (o->exitcode == MT_NOEXIT)
		return "not started";
	if (o->timed_out)
		return "timed out";
	return o->exitcode == 0 ? "ok" : "failed";
}

static void report_json(const struct player *pl, const struct outcome *o, bool first)
{
	printf("%s\n  {\"number\": %d, \"title\": ", first ? "" : ",", pl->number);
	json_string(stdout, pl->title);
	printf(", \"status\": \"%s\", \"exitcode\": ", status_name(o));
	if (o->exitcode == MT_NOEXIT)
		printf("null");
	else
		printf("%d", o->exitcode);
	printf(", \"seconds\": %.6f}", o->seconds);
	fflush(stdout);
}

static void report_failure(const struct player *pl, const struct outcome *o)
{
	if (o->timed_out)
		fprintf(stderr, "mtask tour: scene %d timed out after %.0f s and was killed\n",
			pl->number, SCENE_TIMEOUT);
	else if (o->exitcode == MT_NOEXIT)
		fprintf(stderr, "mtask tour: scene %d could not start\n", pl->number);
	else
		fprintf(stderr, "mtask tour: scene %d failed: exitcode %d\n", pl->number,
			o->exitcode);
}

int tour_run(const struct tour_scene *scenes, int count, int only, bool json)
{
	struct player pl = {.json = json, .progress = progress_wanted(), .count = count};
	bool first = true, all_ok = true;
	tour_table_share(); /* before the table's scene starts */
	if (json)
		printf("{\"scenes\": [");
	for (int i = 0; i < count; i++) {
		if (only && i + 1 != only)
			continue;
		pl.number = i + 1;
		pl.title = scenes[i].title;
		if (!json)
			printf("%s%d. %s\n", first ? "" : "\n", pl.number, pl.title);
		struct outcome o = play(&pl, &scenes[i]);
		bool ok = !o.timed_out && o.exitcode == 0;
		if (json)
			report_json(&pl, &o, first);
		else if (!ok)
			report_failure(&pl, &o);
		all_ok = all_ok && ok;
		first = false;
	}
	if (json) {
		printf("\n], \"figures\": ");
		tour_table_print_json(stdout);
		printf(", \"ok\": %s}\n", all_ok ? "true" : "false");
	}
	fflush(stdout);
	return all_ok ? 0 : 1;
}
