/* pool_mpi_worker.c: an MPI worker rank's side of the MPI pool (see
 * pool_mpi.c for the protocol): inside mt_pool_new, it receives rank 0's
 * batches into two posted receives (one it runs, the next arriving), runs
 * each task by its registered name, and answers the results in as few
 * replies as fit, at least every FLUSH_NS, until STOP. Also the polling
 * both sides share. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "pool_mpi.h"

int mt__mpi_report_error(const char *what, int code)
{
	char text[MPI_MAX_ERROR_STRING];
	int len = 0;
	if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
		snprintf(text, sizeof text, "error %d", code);
	fprintf(stderr, "mtask: MPI pool: %s: %s\n", what, text);
	return -EIO;
}

uint64_t mt__mpi_backoff_ns(unsigned idle)
{
	if (idle < SPIN_TESTS)
		return 0;
	unsigned shift = idle - SPIN_TESTS < 6 ? idle - SPIN_TESTS : 6;
	uint64_t ns = (uint64_t)BACKOFF_MIN_NS << shift;
	return ns < BACKOFF_MAX_NS ? ns : BACKOFF_MAX_NS;
}

struct server {
	struct mt_pool *pool;
	MPI_Comm comm;
	unsigned char *in[MESSAGES_OUT], *out[MESSAGES_OUT];
	MPI_Request in_req[MESSAGES_OUT], out_req[MESSAGES_OUT];
	size_t in_size, out_size, at; /* at: the used part of out[reply] */
	int reply;		      /* the reply buffer being filled */
	struct reply_head head;	      /* of the reply being filled */
	uint64_t flushed_ns;
	uint64_t cached_id; /* the last name number resolved, and its task */
	mt_task_fn cached_fn;
	MPI_Request stop_req; /* STOP has a receive of its own: it overtakes */
	uint64_t stop_tested_ns;
	bool stopped;
};

static int post_receive(struct server *s, int i)
{
	return MPI_Irecv(s->in[i], (int)s->in_size, MPI_BYTE, ROOT, TAG_BATCH, s->comm,
			 &s->in_req[i]);
}

/* Whether rank 0 said STOP (tested at most every STOP_TEST_NS unless
 * now): then the tasks not begun are dropped. */
static int test_stop(struct server *s, bool now)
{
	uint64_t t = mt__now_ns();
	if (s->stopped || (!now && t - s->stop_tested_ns < STOP_TEST_NS))
		return 0;
	s->stop_tested_ns = t;
	int done = 0, err = MPI_Test(&s->stop_req, &done, MPI_STATUS_IGNORE);
	s->stopped = done;
	return err;
}

/* Waits for the batch of buffer i or STOP, testing with backoff. */
static int wait_batch(struct server *s, int i, MPI_Status *status)
{
	for (unsigned idle = 0;; idle++) {
		int done = 0, err = test_stop(s, true);
		if (!err && !s->stopped)
			err = MPI_Test(&s->in_req[i], &done, status);
		if (err || done || s->stopped)
			return err;
		struct timespec ts = {0, (long)mt__mpi_backoff_ns(idle)};
		if (ts.tv_nsec)
			nanosleep(&ts, NULL);
	}
}

/* Sends the reply filled so far, if it has results, and readies the
 * other buffer. Returns 0 or an MPI error code. */
static int flush_reply(struct server *s)
{
	s->flushed_ns = mt__now_ns();
	if (!s->head.count)
		return 0;
	memcpy(s->out[s->reply], &s->head, sizeof s->head);
	int err = MPI_Isend(s->out[s->reply], (int)s->at, MPI_BYTE, ROOT, TAG_REPLY, s->comm,
			    &s->out_req[s->reply]);
	s->reply ^= 1;
	if (!err)
		err = MPI_Wait(&s->out_req[s->reply], MPI_STATUS_IGNORE);
	s->head = (struct reply_head){s->head.first_tag + s->head.count, 0, 0, 0};
	s->at = sizeof s->head;
	return err;
}

static mt_task_fn resolve(struct server *s, uint64_t id)
{
	if (id != s->cached_id) {
		s->cached_fn = id & MT__TASK_NAMED ? mt__task_fn_by_name_id(id) : NULL;
		s->cached_id = id;
	}
	return s->cached_fn;
}

/* Runs one task into the reply being filled. */
static int run_task(struct server *s, const struct task_head *th, const unsigned char *arg)
{
	size_t max = s->pool->opts.max_message;
	int err = 0;
	if (s->out_size - s->at < sizeof(struct result_head) + mt__mpi_padded(max))
		err = flush_reply(s);
	uint64_t start = mt__now_ns();
	unsigned char *at = s->out[s->reply] + s->at;
	struct mt_task_out out;
	mt__task_out_fixed(&out, at + sizeof(struct result_head), max);
	mt_task_fn fn = resolve(s, th->fn);
	struct result_head rh = {fn ? mt__task_run(fn, arg, (size_t)th->len, &out) : -ENOSYS, 0};
	rh.len = rh.error ? 0 : (uint32_t)out.len;
	memcpy(at, &rh, sizeof rh);
	s->at += sizeof rh + mt__mpi_padded(rh.len);
	s->head.count++;
	s->head.run_ns += mt__now_ns() - start;
	return err;
}

/* Runs the batch in buffer i (len bytes): its receive is posted again
 * before its last reply goes, so that the next batch can arrive. */
static int serve_batch(struct server *s, int i, size_t len)
{
	struct batch_head bh;
	if (len < sizeof bh)
		return MPI_ERR_TRUNCATE;
	memcpy(&bh, s->in[i], sizeof bh);
	if (!s->head.count)
		s->head.first_tag = bh.first_tag;
	size_t at = sizeof bh;
	int err = 0;
	for (uint32_t k = 0; k < bh.count && !err; k++) {
		if ((err = test_stop(s, false)) || s->stopped)
			break;
		struct task_head th;
		if (len - at < sizeof th)
			return MPI_ERR_TRUNCATE;
		memcpy(&th, s->in[i] + at, sizeof th);
		at += sizeof th;
		if (th.len > len - at)
			return MPI_ERR_TRUNCATE;
		err = run_task(s, &th, s->in[i] + at);
		at += mt__mpi_padded((size_t)th.len);
		if (!err && k + 1 < bh.count && mt__now_ns() - s->flushed_ns > FLUSH_NS)
			err = flush_reply(s);
	}
	if (!err && !s->stopped)
		err = post_receive(s, i);
	return err ? err : flush_reply(s);
}

/* Serves batches until STOP, then says BYE. Returns 0 or an MPI error. */
static int serve_loop(struct server *s)
{
	int err = MPI_Irecv(NULL, 0, MPI_BYTE, ROOT, TAG_STOP, s->comm, &s->stop_req);
	for (int k = 0; k < MESSAGES_OUT && !err; k++)
		err = post_receive(s, k);
	s->at = sizeof s->head;
	s->flushed_ns = mt__now_ns();
	for (int i = 0; !err && !s->stopped; i ^= 1) {
		MPI_Status status;
		int len = 0;
		if ((err = wait_batch(s, i, &status)) || s->stopped)
			break;
		MPI_Get_count(&status, MPI_BYTE, &len);
		err = serve_batch(s, i, (size_t)len);
	}
	for (int k = 0; !err && k < MESSAGES_OUT; k++) {
		if (s->in_req[k] != MPI_REQUEST_NULL) /* a batch dropped, or none */
			MPI_Cancel(&s->in_req[k]);
		err = MPI_Wait(&s->in_req[k], MPI_STATUS_IGNORE);
		if (!err)
			err = MPI_Wait(&s->out_req[k], MPI_STATUS_IGNORE);
	}
	return err ? err : MPI_Send(NULL, 0, MPI_BYTE, ROOT, TAG_BYE, s->comm);
}

int mt__mpi_serve(struct mt_pool *p, MPI_Comm comm)
{
	struct server s = {.pool = p,
			   .comm = comm,
			   .in_size = mt__mpi_batch_size(p),
			   .out_size = mt__mpi_reply_size(p)};
	int err = 0;
	for (int k = 0; k < MESSAGES_OUT; k++) {
		s.in[k] = malloc(s.in_size);
		s.out[k] = malloc(s.out_size);
		s.in_req[k] = s.out_req[k] = MPI_REQUEST_NULL;
		s.stop_req = MPI_REQUEST_NULL;
		err = s.in[k] && s.out[k] ? err : -ENOMEM;
	}
	if (!err && p->opts.initializer)
		p->opts.initializer(p->opts.initarg);
	int slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0);
	int code = err ? MPI_ERR_NO_MEM : serve_loop(&s);
	if (slack > 0)
		prctl(PR_SET_TIMERSLACK, (unsigned long)slack, 0, 0, 0);
	if (code) { /* rank 0 would wait for this rank for ever */
		mt__mpi_report_error("a worker rank failed, the job ends", code);
		MPI_Abort(comm, 1);
	}
	for (int k = 0; k < MESSAGES_OUT; k++) {
		free(s.in[k]);
		free(s.out[k]);
	}
	return err;
}
