/* pool_map.c: map, imap and imap_unordered over an array of items, built
 * on the pool's submit, so that every backend gets them for free.
 *
 * Items travel in chunks: one task per chunk, whose function is one of
 * the library's chunk runners and whose bytes are a chunk header (the
 * user's function, as a number: see pool_internal.h), then the items,
 * copied once from the caller's array into the task.
 *
 * map knows every result's room (result_size), so its chunks answer in a
 * fixed layout: item i's result at i * result_size, zero-padded, written
 * by the task straight into the chunk's answer, then a trailer naming the
 * chunk's first failing item. The results part of the answer goes from
 * the settling thread straight into the caller's results array (the
 * future's sink), never into the future. imap's results may have any
 * length, so its chunks answer a record per item: {error, length} and the
 * result's bytes, all packed, read back in item order. Either way a chunk
 * costs one task's round trip, and an item one indirect call and a copy
 * or two, which is what makes a map of tiny items fast. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pool_internal.h"

#define CHUNKS_PER_WORKER 4 /* Python's default chunksize: n / (4 * workers) */
#define IMAP_AHEAD_PER_WORKER 4

struct chunk_header {
	uint64_t fn;
	uint64_t item_size;
	uint64_t count;
	uint64_t result_size; /* map's fixed layout; imap's records: 0 */
};

struct record {
	int32_t error;
	uint32_t len;
};

/* The end of a fixed-layout answer: the chunk's first failing item. */
struct trailer {
	int32_t error; /* 0: none failed */
	uint32_t index;
};

static int read_header(const void *arg, size_t len, struct chunk_header *h)
{
	if (len < sizeof *h)
		return -EPROTO;
	memcpy(h, arg, sizeof *h);
	if (h->item_size && (len - sizeof *h) / h->item_size < h->count)
		return -EPROTO;
	return 0;
}

/* map's chunks: each item's result written in place at its slot. */
static int run_fixed_chunk(const void *arg, size_t len, mt_task_out *out)
{
	struct chunk_header h;
	int err = read_header(arg, len, &h);
	if (err)
		return err;
	size_t room = (size_t)h.count * h.result_size;
	unsigned char *slots = mt_task_result_buffer(out, room + sizeof(struct trailer));
	if (!slots)
		return out->too_big ? -EMSGSIZE : -ENOMEM;
	mt_task_fn fn = mt__task_fn_from_id(h.fn);
	if (!fn)
		return -ENOSYS; /* an MPI rank that does not know the name */
	const unsigned char *item = (const unsigned char *)arg + sizeof h;
	struct trailer t = {0, 0};
	unsigned char *slot = slots;
	for (uint64_t i = 0; i < h.count; i++, item += h.item_size, slot += h.result_size) {
		struct mt_task_out view;
		mt__task_out_fixed(&view, slot, h.result_size);
		int e = mt__task_run(fn, item, h.item_size, &view);
		size_t used = e ? 0 : view.len;
		if (used < h.result_size)
			memset(slot + used, 0, h.result_size - used);
		if (e && !t.error)
			t = (struct trailer){e, (uint32_t)i};
	}
	memcpy(slots + room, &t, sizeof t);
	return 0;
}

static int run_chunk(const void *arg, size_t len, mt_task_out *out)
{
	struct chunk_header h;
	int err = read_header(arg, len, &h);
	if (err)
		return err;
	mt_task_fn fn = mt__task_fn_from_id(h.fn);
	if (!fn)
		return -ENOSYS;
	const unsigned char *item = (const unsigned char *)arg + sizeof h;
	size_t pos = 0;
	for (uint64_t i = 0; i < h.count; i++, item += h.item_size) {
		if (!mt_task_result_buffer(out, pos + sizeof(struct record)))
			return out->too_big ? -EMSGSIZE : -ENOMEM;
		mt_task_out view = {.parent = out, .base = pos + sizeof(struct record)};
		struct record r = {mt__task_run(fn, item, h.item_size, &view), 0};
		r.len = r.error ? 0 : (uint32_t)view.len;
		if (view.too_big) /* the chunk is full: the map shrinks chunks */
			return -EMSGSIZE;
		memcpy(out->buf + pos, &r, sizeof r);
		pos += sizeof r + r.len;
	}
	out->len = pos;
	return 0;
}

/* The runners travel by name to MPI ranks too. */
MT_TASK_REGISTER_AS(run_fixed_chunk, "mtask.map.fixed_chunk")
MT_TASK_REGISTER_AS(run_chunk, "mtask.map.chunk")

/* Submits items [first, first + count) as one chunk: map's (a fixed
 * layout, its results sunk into results) when results is not NULL, else
 * imap's. */
static int submit_chunk(mt_pool *p, mt_task_fn fn, const unsigned char *items, size_t item_size,
			size_t first, size_t count, unsigned char *results, size_t result_size,
			mt_future **f)
{
	struct chunk_header h = {0, item_size, count, results ? result_size : 0};
	int err = mt__pool_fn_id(p, fn, &h.fn);
	if (err)
		return err;
	const unsigned char *body = item_size ? items + first * item_size : NULL;
	struct mt__task_arg arg = {&h, body, sizeof h, count * item_size};
	if (!results)
		return mt__pool_submit(p, run_chunk, &arg, NULL, 0, f);
	return mt__pool_submit(p, run_fixed_chunk, &arg, results + first * result_size,
			       count * result_size, f);
}

/* The chunk size: asked for, or Python's default; then cut so that a
 * chunk's items and results fit a process pool's messages. */
static size_t chunk_size(mt_pool *p, size_t n, size_t asked, size_t item_size, size_t result_size,
			 bool fixed)
{
	size_t size = asked;
	if (!size) {
		size_t parts = (size_t)mt_pool_workers(p) * CHUNKS_PER_WORKER;
		size = (n + parts - 1) / parts;
	}
	size_t limit = mt__pool_message_limit(p);
	if (limit) {
		size_t room = limit - sizeof(struct chunk_header);
		if (item_size && size > room / item_size)
			size = room / item_size;
		size_t per_result = fixed ? result_size : sizeof(struct record) + result_size;
		size_t results_room = limit - (fixed ? sizeof(struct trailer) : 0);
		if (per_result && size > results_room / per_result)
			size = results_room / per_result;
	}
	return size ? size : 1;
}

/* ---- map ---- */

static void cancel_all(mt_future **fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mt_future_cancel(fs[i]);
}

/* Takes the sinks back (no settler writes into results after this) and
 * frees the futures. */
static void free_all(mt_future **fs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		mt__future_unsink(fs[i]);
		mt_future_free(fs[i]);
	}
	free(fs);
}

/* Chunk f's outcome: its results are in place (its sink); returns the
 * first error and its item's index in *failed. */
static int check_chunk(mt_future *f, size_t first, size_t *failed)
{
	const void *at;
	size_t len;
	struct trailer t;
	int err = mt_future_result(f, 0, &at, &len);
	if (!err && len != sizeof t)
		err = -EPROTO;
	if (err) {
		*failed = first;
		return err;
	}
	memcpy(&t, at, sizeof t);
	*failed = first + t.index;
	return t.error;
}

int mt_pool_map(mt_pool *p, mt_task_fn fn, const void *items, size_t item_size, size_t n,
		size_t chunksize, void *results, size_t result_size, double timeout, size_t *failed)
{
	if (!p || !fn || (n && item_size && !items) || (n && result_size && !results))
		return -EINVAL;
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	if (err || !n)
		return err;
	size_t size = chunk_size(p, n, chunksize, item_size, result_size, true);
	size_t chunks = (n + size - 1) / size, made = 0;
	mt_future **fs = calloc(chunks, sizeof *fs);
	if (!fs)
		return -ENOMEM;
	unsigned char byte, *sink = results ? results : &byte; /* result_size 0 */
	for (; made < chunks && !err; made++) {
		size_t first = made * size, count = n - first < size ? n - first : size;
		err = submit_chunk(p, fn, items, item_size, first, count, sink, result_size,
				   &fs[made]);
	}
	if (err)
		made--;
	size_t where = 0;
	for (size_t c = 0; c < made && !err; c++) {
		struct timespec left = {0, 0};
		bool time_left = mt__deadline_left(&deadline, &left);
		double wait = deadline.forever ? -1
			      : time_left      ? left.tv_sec + left.tv_nsec / 1e9
					       : 0;
		err = mt_future_wait(fs[c], wait);
		if (!err)
			err = check_chunk(fs[c], c * size, &where);
	}
	if (err)
		cancel_all(fs, made);
	free_all(fs, made);
	if (err && failed)
		*failed = where;
	return err;
}

/* ---- imap and imap_unordered ---- */

struct mt_imap {
	mt_pool *pool;
	mt_task_fn fn;
	unsigned char *items; /* a copy, sent as chunks fall due */
	size_t item_size, n, size, chunks;
	bool ordered;
	mt_future **fs;	  /* by chunk; NULL once consumed */
	size_t submitted; /* chunks submitted so far */
	size_t ahead;	  /* at most this many submitted and not consumed */
	size_t open;	  /* submitted and not consumed */
	/* The chunk being read: its index, the next record, items left. */
	size_t current;
	const unsigned char *at;
	size_t left;
	int submit_error; /* a chunk that could not be submitted */
};

int mt_pool_imap(mt_pool *p, mt_task_fn fn, const void *items, size_t item_size, size_t n,
		 size_t chunksize, bool ordered, mt_imap **out)
{
	if (!p || !fn || !out || (n && item_size && !items))
		return -EINVAL;
	mt_imap *it = calloc(1, sizeof *it);
	if (!it)
		return -ENOMEM;
	*it = (struct mt_imap){.pool = p,
			       .fn = fn,
			       .item_size = item_size,
			       .n = n,
			       .ordered = ordered,
			       .current = SIZE_MAX};
	it->size = chunk_size(p, n, chunksize ? chunksize : 1, item_size, 0, false);
	it->chunks = (n + it->size - 1) / it->size;
	it->ahead = (size_t)mt_pool_workers(p) * IMAP_AHEAD_PER_WORKER;
	it->items = malloc(n && item_size ? n * item_size : 1);
	it->fs = calloc(it->chunks ? it->chunks : 1, sizeof *it->fs);
	if (!it->items || !it->fs) {
		mt_imap_free(it);
		return -ENOMEM;
	}
	if (n && item_size)
		memcpy(it->items, items, n * item_size);
	*out = it;
	return 0;
}

static size_t chunk_count(const mt_imap *it, size_t c)
{
	size_t first = c * it->size;
	return it->n - first < it->size ? it->n - first : it->size;
}

/* Keeps `ahead` chunks submitted and not consumed. */
static void top_up(mt_imap *it)
{
	while (!it->submit_error && it->submitted < it->chunks && it->open < it->ahead) {
		size_t c = it->submitted;
		it->submit_error =
			submit_chunk(it->pool, it->fn, it->items, it->item_size, c * it->size,
				     chunk_count(it, c), NULL, 0, &it->fs[c]);
		if (!it->submit_error) {
			it->submitted++;
			it->open++;
		}
	}
}

/* The next chunk to read, waiting for it: in order, or the first done. */
static int pick_chunk(mt_imap *it, const mt__deadline *deadline, size_t *chunk)
{
	struct timespec left = {0, 0};
	bool time_left = mt__deadline_left(deadline, &left);
	double wait = deadline->forever ? -1 : time_left ? left.tv_sec + left.tv_nsec / 1e9 : 0;
	if (it->ordered) {
		size_t c = it->current == SIZE_MAX ? 0 : it->current + 1;
		*chunk = c;
		return mt_future_wait(it->fs[c], wait);
	}
	mt_future **open = malloc(it->open * sizeof *open);
	if (!open)
		return -ENOMEM;
	size_t k = 0;
	for (size_t c = 0; c < it->submitted; c++)
		if (it->fs[c])
			open[k++] = it->fs[c];
	int err = mt_futures_wait(open, k, MT_FIRST_COMPLETED, wait);
	free(open);
	for (size_t c = 0; err >= 0 && c < it->submitted; c++) {
		if (it->fs[c] && mt_future_done(it->fs[c])) {
			*chunk = c;
			return 0;
		}
	}
	return err < 0 ? err : -ETIMEDOUT;
}

static void finish_chunk(mt_imap *it)
{
	if (it->current != SIZE_MAX && it->fs[it->current]) {
		mt_future_free(it->fs[it->current]);
		it->fs[it->current] = NULL;
		it->open--;
	}
}

/* Moves to the next chunk once the current one is read; returns 0, 1 at
 * the end, or an error (the chunk's own error fails each of its items). */
static int enter_chunk(mt_imap *it, const mt__deadline *deadline)
{
	finish_chunk(it);
	top_up(it);
	if (!it->open)
		return it->submit_error ? it->submit_error : 1;
	size_t c;
	int err = pick_chunk(it, deadline, &c);
	if (err)
		return err;
	it->current = c;
	it->left = chunk_count(it, c);
	size_t len;
	it->at = NULL;
	mt_future_result(it->fs[c], 0, (const void **)&it->at, &len);
	return 0;
}

int mt_imap_next(mt_imap *it, void *buf, size_t cap, size_t *len, size_t *index, double timeout)
{
	if (!it || (cap && !buf))
		return -EINVAL;
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	if (!err && !it->left)
		err = enter_chunk(it, &deadline);
	if (err)
		return err == 1 ? 0 : err;
	size_t item = it->current * it->size + chunk_count(it, it->current) - it->left;
	if (index)
		*index = item;
	if (!it->at) { /* the whole chunk failed */
		it->left--;
		return mt_future_error(it->fs[it->current]);
	}
	struct record r;
	memcpy(&r, it->at, sizeof r);
	if (len)
		*len = r.len;
	if (!r.error && r.len > cap)
		return -EMSGSIZE;
	if (!r.error)
		memcpy(buf, it->at + sizeof r, r.len);
	it->at += sizeof r + r.len;
	it->left--;
	return r.error ? r.error : 1;
}

void mt_imap_free(mt_imap *it)
{
	if (!it)
		return;
	for (size_t c = 0; it->fs && c < it->submitted; c++) {
		if (!it->fs[c])
			continue;
		mt_future_cancel(it->fs[c]); /* a running chunk goes on, unread */
		mt_future_free(it->fs[c]);
	}
	free(it->fs);
	free(it->items);
	free(it);
}
