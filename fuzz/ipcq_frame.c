/* ipcq_frame.c: fuzz target for the framing of mt_ipc_queue. It makes a
 * small queue, brings it into some state with ordinary puts and gets, lets
 * the input scribble on the queue's shared memory as a buggy process could
 * (anything but the locks), then runs the puts, gets and the rest the input
 * asks for, and checks that every call ends cleanly: with a documented
 * error, or with a message that fits the caller's buffer. When nothing was
 * scribbled it also checks the answers against a model of the queue:
 * exactly the messages put, in order, Full and Empty when due.
 *
 * Input: maxsize, max_message, warm-up operations, patch count, the
 * patches (offset, length, bytes), then one byte per operation. Every byte
 * is read permissively, so any input is a valid one. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcq.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#endif
#ifdef FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define MAXSIZE_MAX 8
#define MESSAGE_MAX 200

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *data;
	size_t size;
};

/* The next byte, 0 once the input is used up. */
static uint8_t next_byte(struct input *in)
{
	if (!in->size)
		return 0;
	in->size--;
	return *in->data++;
}

/* What the queue must hold while nobody scribbled. */
struct model {
	bool trusted;  /* nothing was scribbled: answers must match */
	bool closed;
	size_t maxsize, max_message;
	uint32_t first, count; /* message numbers first .. first + count - 1 */
	size_t lengths[MAXSIZE_MAX];
	uint64_t put, done;
};

/* Aborts, saying what went wrong and the error of the call, unless ok. */
static void check_call(bool ok, const char *what, int err)
{
	if (!ok) {
		fprintf(stderr, "ipcq_frame: %s (%s)\n", what, mt_strerror(err));
		abort();
	}
}

static void check(bool ok, const char *what)
{
	check_call(ok, what, 0);
}

static size_t message_length(uint32_t number, size_t max_message, uint8_t param)
{
	return (number * 7u + param) % (max_message + 2); /* now and then too long */
}

static void fill_message(uint8_t *buf, size_t len, uint32_t number)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(number * 31u + i);
}

static void do_put(mt_ipc_queue *q, struct model *m, uint8_t param)
{
	uint8_t buf[MESSAGE_MAX + 2];
	uint32_t number = m->first + m->count;
	size_t len = message_length(number, m->max_message, param);
	fill_message(buf, len, number);
	int err = mt_ipc_queue_put(q, buf, len, 0);
	check(err == 0 || err == -EAGAIN || err == -EPIPE || err == -EMSGSIZE || err == -EPROTO,
	      "put: unexpected error");
	check((err == -EMSGSIZE) == (len > m->max_message), "put: -EMSGSIZE wrongly");
	if (!m->trusted)
		return;
	int expected = len > m->max_message ? -EMSGSIZE
		       : m->closed	    ? -EPIPE
		       : m->count == m->maxsize ? -EAGAIN
						: 0;
	check_call(err == expected, "put: not what the model says", err);
	if (!err) {
		m->lengths[(m->first + m->count) % MAXSIZE_MAX] = len;
		m->count++;
		m->put++;
	}
}

/* A successful get, checked against the model. */
static void model_get(struct model *m, const uint8_t *buf, size_t len)
{
	check(m->count > 0, "get: a message from an empty queue");
	check(len == m->lengths[m->first % MAXSIZE_MAX], "get: wrong length");
	uint8_t want[MESSAGE_MAX];
	fill_message(want, len, m->first);
	check(memcmp(buf, want, len) == 0, "get: wrong bytes");
	m->first++;
	m->count--;
}

static void do_get(mt_ipc_queue *q, struct model *m, uint8_t param)
{
	uint8_t buf[MESSAGE_MAX];
	size_t cap = param & 1 ? (size_t)param % (m->max_message + 1) : m->max_message;
	size_t len = SIZE_MAX;
	int err = mt_ipc_queue_get(q, buf, cap, &len, 0);
	check(err == 0 || err == -EAGAIN || err == -EPIPE || err == -EMSGSIZE ||
		      err == -EPROTO || err == -EBADMSG,
	      "get: unexpected error");
	check(err != 0 || len <= cap, "get: longer than the buffer");
	check(err != -EMSGSIZE || (len > cap && len <= m->max_message), "get: -EMSGSIZE wrongly");
	if (!m->trusted)
		return;
	if (err == 0) {
		model_get(m, buf, len);
		return;
	}
	if (m->count == 0) {
		check_call(err == (m->closed ? -EPIPE : -EAGAIN), "get: empty, but not Empty", err);
		return;
	}
	check_call(err == -EMSGSIZE && len == m->lengths[m->first % MAXSIZE_MAX],
		   "get: lost a message", err);
}

static void do_tasks(mt_ipc_queue *q, struct model *m, uint8_t param)
{
	int err = param & 1 ? mt_ipc_queue_task_done(q) : mt_ipc_queue_join(q, 0);
	check(err == 0 || err == -EINVAL || err == -ETIMEDOUT || err == -EPROTO,
	      "task_done/join: unexpected error");
	if (!m->trusted)
		return;
	bool owed = m->done < m->put;
	if (param & 1) {
		check(err == (owed ? 0 : -EINVAL), "task_done: not what the model says");
		m->done += owed;
	} else {
		check(err == (owed ? -ETIMEDOUT : 0), "join: not what the model says");
	}
}

static void do_sizes(mt_ipc_queue *q, struct model *m, uint8_t param)
{
	size_t n = mt_ipc_queue_qsize(q);
	bool empty = mt_ipc_queue_empty(q), full = mt_ipc_queue_full(q);
	check(n <= m->maxsize, "qsize above maxsize");
	if (m->trusted)
		check(n == m->count && empty == (m->count == 0) && full == (m->count == m->maxsize),
		      "sizes: not what the model says");
	if (param % 16 == 0) { /* now and then */
		mt_ipc_queue_close(q);
		m->closed = true;
		check(mt_ipc_queue_closed(q), "close did not close");
	}
}

static void run_operation(mt_ipc_queue *q, struct model *m, uint8_t op)
{
	uint8_t param = op >> 2;
	switch (op & 3) {
	case 0:
		do_put(q, m, param);
		break;
	case 1:
		do_get(q, m, param);
		break;
	case 2:
		do_tasks(q, m, param);
		break;
	default:
		do_sizes(q, m, param);
		break;
	}
}

static bool in_a_lock(const struct mt__ipcq_layout *layout, size_t offset)
{
	for (size_t i = 0; i < sizeof layout->locks / sizeof layout->locks[0]; i++)
		if (offset - layout->locks[i] < layout->lock_size)
			return true;
	return false;
}

/* Overwrites bytes of the header or the ring, but not of the locks:
 * offset (two bytes), length (1 to 8), then the bytes, as a buggy
 * process's stray stores. */
static void scribble(const struct mt__ipcq_layout *layout, struct input *in)
{
	size_t high = next_byte(in);
	size_t at = (high << 8 | next_byte(in)) % layout->ring_end;
	size_t len = 1 + next_byte(in) % 8;
	for (size_t i = 0; i < len && at + i < layout->ring_end; i++) {
		uint8_t value = next_byte(in);
		if (!in_a_lock(layout, at + i))
			layout->base[at + i] = value;
	}
}

/* The never-used end of the last page must stay untouched: under ASan a
 * slip there is reported. */
static void poison_slack(const struct mt__ipcq_layout *layout, bool poison)
{
#ifdef FUZZ_ASAN
	unsigned char *slack = layout->base + layout->ring_end;
	size_t len = layout->size - layout->ring_end;
	if (poison)
		ASAN_POISON_MEMORY_REGION(slack, len);
	else
		ASAN_UNPOISON_MEMORY_REGION(slack, len);
#else
	(void)layout;
	(void)poison;
#endif
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	struct model m = {.trusted = true};
	m.maxsize = 1 + next_byte(&in) % MAXSIZE_MAX;
	m.max_message = 1 + next_byte(&in) % MESSAGE_MAX;
	mt_ipc_queue *q;
	check(mt_ipc_queue_new(&q, m.maxsize, m.max_message) == 0, "cannot make a queue");
	struct mt__ipcq_layout layout;
	mt__ipcq_layout(q, &layout);
	poison_slack(&layout, true);
	/* Two puts for each get, of varied lengths: the ring fills and wraps. */
	for (int warm_up = next_byte(&in) % 32; warm_up > 0; warm_up--)
		run_operation(q, &m, (uint8_t)(warm_up << 2 | (warm_up % 3 == 0)));
	int patches = next_byte(&in) % 16;
	if (patches >= 8)
		patches = 0; /* half the inputs scribble nothing */
	for (int i = 0; i < patches; i++)
		scribble(&layout, &in);
	m.trusted = patches == 0;
	while (in.size)
		run_operation(q, &m, next_byte(&in));
	poison_slack(&layout, false);
	mt_ipc_queue_free(q);
	return 0;
}
