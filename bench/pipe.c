/* pipe.c: `mtask bench pipe`: what a Pipe round trip between two
 * processes costs, beside the raw system calls a C programmer would use
 * and Python's multiprocessing.Pipe.
 *
 * One operation is a round trip: the batch's process sends a 16-byte
 * message and waits for a partner process to send it back. The floor is
 * two pipe(2)s, a write and a read on each side; beside it two eventfds
 * (the cheapest wake-up a descriptor gives, carrying no data), an
 * mt_pipe_new duplex pair with mt_conn_send / mt_conn_recv, and Python's
 * Pipe() with send_bytes / recv_bytes.
 *
 * The partner is forked by the batch's setup, so no process start is
 * timed, and dies with the batch's process (PR_SET_PDEATHSIG, and an end
 * of file on its descriptors). Neither is pinned: where the scheduler puts
 * two processes that take turns (the same CPU most of the time here, the
 * other one now and then) is part of what a program sees. A round trip is
 * two wake-ups, which cost far more than the system calls around them, so
 * the rows differ by what each adds to a write and a read. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "bench.h"
#include "mtask/ipc.h"

#define PIPE_ROUNDS 10
#define MESSAGE_SIZE 16 /* bench/peers/pipes.py's MESSAGE_SIZE */

enum pipe_row { ROW_RAW_PIPE, ROW_EVENTFD, ROW_MT_CONN, ROW_PY_PIPE, ROW_COUNT };

static char message[MESSAGE_SIZE] = "0123456789abcde"; /* and a NUL */

/* Forks the partner, which runs loop(); the partner ends when the batch's
 * process does, even if loop blocks for ever. Returns 0 in the batch's
 * process, or a negative errno. */
static int start_partner(void (*loop)(void))
{
	pid_t batch = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		return 0;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == batch) /* else it died before prctl took effect */
		loop();
	_exit(0);
}

/* ---- raw pipe(2): the floor ---- */

static int to_partner[2], to_batch[2];

static void raw_pipe_partner(void)
{
	char buf[MESSAGE_SIZE];
	close(to_partner[1]);
	close(to_batch[0]);
	while (read(to_partner[0], buf, sizeof buf) == sizeof buf &&
	       write(to_batch[1], buf, sizeof buf) == sizeof buf)
		;
}

static int setup_raw_pipe(void)
{
	if (pipe(to_partner) < 0 || pipe(to_batch) < 0)
		return -errno;
	int err = start_partner(raw_pipe_partner);
	close(to_partner[0]);
	close(to_batch[1]);
	return err;
}

static int raw_pipe_round_trip(void)
{
	char buf[MESSAGE_SIZE];
	if (write(to_partner[1], message, sizeof message) != sizeof message ||
	    read(to_batch[0], buf, sizeof buf) != sizeof buf)
		return -EIO;
	return 0;
}

/* ---- eventfd: a wake-up each way, no data ---- */

static int partner_event, batch_event;

static void eventfd_partner(void)
{
	uint64_t count;
	while (read(partner_event, &count, sizeof count) == sizeof count &&
	       write(batch_event, &count, sizeof count) == sizeof count)
		;
}

static int setup_eventfd(void)
{
	partner_event = eventfd(0, EFD_CLOEXEC);
	batch_event = eventfd(0, EFD_CLOEXEC);
	if (partner_event < 0 || batch_event < 0)
		return -errno;
	return start_partner(eventfd_partner);
}

static int eventfd_round_trip(void)
{
	uint64_t one = 1, count;
	if (write(partner_event, &one, sizeof one) != sizeof one ||
	    read(batch_event, &count, sizeof count) != sizeof count)
		return -EIO;
	return 0;
}

/* ---- mtask's Pipe ---- */

static mt_conn *batch_end, *partner_end;

static void mt_conn_partner(void)
{
	char buf[MESSAGE_SIZE];
	size_t len;
	mt_conn_close(batch_end);
	while (mt_conn_recv(partner_end, buf, sizeof buf, &len, -1) == 0 &&
	       mt_conn_send(partner_end, buf, len) == 0)
		;
}

static int setup_mt_conn(void)
{
	int err = mt_pipe_new(&batch_end, &partner_end, true);
	if (!err)
		err = start_partner(mt_conn_partner);
	mt_conn_close(partner_end);
	return err;
}

static int mt_conn_round_trip(void)
{
	char buf[MESSAGE_SIZE];
	size_t len;
	int err = mt_conn_send(batch_end, message, sizeof message);
	if (!err)
		err = mt_conn_recv(batch_end, buf, sizeof buf, &len, -1);
	return err ? err : len == sizeof message ? 0 : -EPROTO;
}

/* ---- the table ---- */

#define ROUND_TRIP "round trip of a 16-byte message between two processes"

/* A C round trip takes 15-30 us here, a Python one 50-100 us. */
#define C_ROW(impl, setup_fn, op_fn, is_floor)                                                     \
	{                                                                                          \
		.operation = ROUND_TRIP, .implementation = (impl), .reference = (is_floor),        \
		.setup = (setup_fn), .op = (op_fn), .batch = 4000, .quick_batch = 200              \
	}

static const struct bench_impl pipe_impls[ROW_COUNT] = {
	[ROW_RAW_PIPE] =
		C_ROW("raw pipe(2) write/read (floor)", setup_raw_pipe, raw_pipe_round_trip, true),
	[ROW_EVENTFD] = C_ROW("raw eventfd write/read", setup_eventfd, eventfd_round_trip, false),
	[ROW_MT_CONN] = C_ROW("mt_conn send/recv (Pipe)", setup_mt_conn, mt_conn_round_trip, false),
	[ROW_PY_PIPE] = {.operation = ROUND_TRIP,
			 .implementation = "Python multiprocessing.Pipe",
			 .peer_script = "pipes.py",
			 .peer_kind = "pipe",
			 .batch = 2000,
			 .quick_batch = 100},
};

int bench_pipe(const struct bench_config *config, struct bench_result *result)
{
	int err = bench_run_rounds(config, result, pipe_impls, ROW_COUNT, PIPE_ROUNDS);
	bench_add_target(result, "mt_conn round trip vs raw pipe(2)", ROW_MT_CONN, ROW_RAW_PIPE,
			 BENCH_AT_MOST, 1.3);
	bench_add_target(result, "speedup over Python: multiprocessing.Pipe / mt_conn", ROW_PY_PIPE,
			 ROW_MT_CONN, BENCH_AT_LEAST, 1.0);
	return err;
}
