/* mtask/ipc.h: communication between processes, the C counterpart of
 * multiprocessing's Queue and JoinableQueue, Pipe, Value and Array, and
 * of the shared memory under them.
 *
 * Everything here is bytes in and bytes out: nothing is pickled, a message
 * is a buffer and its length. Every object is made in one process and
 * shared with the processes it starts afterwards (mt_process_start, fork):
 * make it before starting them, as Python's programs pass a Queue to
 * Process(args=...). Each process frees its own handle when done.
 *
 * Shared memory never leaks: it is anonymous (memfd_create or
 * MAP_SHARED | MAP_ANONYMOUS), never has a name in /dev/shm, and goes back
 * to the kernel when the last process using it unmaps it, exits, crashes
 * or is SIGKILLed. Descriptors are close-on-exec.
 *
 * Blocking calls take a timeout in seconds, as Python: < 0 waits for ever,
 * 0 only tries. A NaN timeout is -EINVAL. */
#ifndef MTASK_IPC_H
#define MTASK_IPC_H

#include <stdbool.h>
#include <stddef.h>

#include "mtask/common.h"
#include "mtask/sync.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Shared memory (multiprocessing.shared_memory, without names) ---- */

typedef struct mt_shm mt_shm;

/* Fork: a segment's handle, mapping and descriptor are inherited, so a
 * child started after mt_shm_new uses the same handle; parent and child
 * each mt_shm_free their own. Across exec nothing survives (the
 * descriptor is close-on-exec): pass mt_shm_fd and mt_shm_attach. */

/* mt_shm_new - a zero-filled segment of size bytes, mapped shared: the
 * processes started after this call see the same bytes at the same
 * address. name only labels it (/proc/PID/maps, /proc/PID/fd) and may be
 * NULL. Returns 0, -EINVAL (size 0), -ENOMEM, or the error of
 * memfd_create/mmap. */
MT_EXPORT int mt_shm_new(mt_shm **s, size_t size, const char *name);

/* mt_shm_attach - map the segment behind fd, a descriptor received from
 * another process (mt_shm_fd sent over a Unix socket, or inherited across
 * exec after clearing FD_CLOEXEC). The handle owns a duplicate of fd; the
 * caller keeps its own. Returns 0, -EBADF, -EINVAL (not a descriptor of
 * anonymous shared memory: a memfd; a file with a name, in /dev/shm or
 * elsewhere, is refused), -ENOMEM, or mmap's error (-EACCES for a
 * read-only descriptor). */
MT_EXPORT int mt_shm_attach(mt_shm **s, int fd);

/* mt_shm_addr, mt_shm_size, mt_shm_fd - where the segment is mapped in
 * this process, its size, and its descriptor (owned by the handle). */
MT_EXPORT void *mt_shm_addr(const mt_shm *s);
MT_EXPORT size_t mt_shm_size(const mt_shm *s);
MT_EXPORT int mt_shm_fd(const mt_shm *s);

/* mt_shm_free - unmap the segment in this process and close its
 * descriptor. The memory itself goes when no process maps it or holds a
 * descriptor of it any more. NULL is ignored. */
MT_EXPORT void mt_shm_free(mt_shm *s);

/* ---- Value and Array (multiprocessing.Value, Array, RawValue, RawArray) ---- */

/* Flag for mt_value_new and mt_array_new: no lock (RawValue, RawArray). */
#define MT_IPC_RAW 1

typedef struct mt_array mt_array;
typedef struct mt_value mt_value;

/* A Value or Array lives wholly in shared memory, handle included: a child
 * started after mt_array_new / mt_value_new uses the very same pointer,
 * and its updates are seen by all. Each process frees its own handle
 * (a child that just returns needs not). Nothing survives exec. */

/* mt_array_new - length elements of elem_size bytes each, zero-filled, in
 * shared memory, with a shared robust lock unless flags has MT_IPC_RAW:
 * Array('d', 10) is mt_array_new(&a, sizeof(double), 10, 0). Returns 0,
 * -EINVAL (a zero size or length, unknown flags, or a size that
 * overflows), -ENOMEM. */
MT_EXPORT int mt_array_new(mt_array **a, size_t elem_size, size_t length, int flags);

/* mt_array_data - the elements, for direct access (hold the lock around
 * updates that must be atomic, as Python's get_lock()). */
MT_EXPORT void *mt_array_data(mt_array *a);

/* mt_array_length, mt_array_elem_size - as given to mt_array_new. */
MT_EXPORT size_t mt_array_length(const mt_array *a);
MT_EXPORT size_t mt_array_elem_size(const mt_array *a);

/* mt_array_lock - the array's lock (Python's get_lock()), NULL for a raw
 * array. It is an MT_PSHARED mt_lock: its acquire may return -EOWNERDEAD
 * when a process died holding it (see sync.h). */
MT_EXPORT mt_lock *mt_array_lock(mt_array *a);

/* mt_array_get, mt_array_set - copy element index out of or into the
 * array, under its lock when it has one (Python's a[i]). Return 0,
 * -ERANGE for an index past the end (Python's IndexError), -EINVAL, or
 * -EOWNERDEAD: the copy was made, and the lock, whose previous holder
 * died, is left held by the caller as mt_lock_acquire leaves it: repair
 * the data, then mt_lock_consistent and mt_lock_release (see
 * mt_array_lock). -ENOTRECOVERABLE: nothing was copied. */
MT_EXPORT int mt_array_get(mt_array *a, size_t index, void *out);
MT_EXPORT int mt_array_set(mt_array *a, size_t index, const void *in);

/* mt_array_free - this process's handle goes; the memory goes with the
 * last process that maps it. NULL is ignored. */
MT_EXPORT void mt_array_free(mt_array *a);

/* mt_value_new - one value of size bytes in shared memory, zero-filled,
 * with a lock unless flags has MT_IPC_RAW: Value('i', 0) is
 * mt_value_new(&v, sizeof(int), 0). Returns 0, -EINVAL, -ENOMEM. */
MT_EXPORT int mt_value_new(mt_value **v, size_t size, int flags);

/* mt_value_ptr, mt_value_lock, mt_value_get, mt_value_set, mt_value_free -
 * as the array calls, for the one element (Python's v.value and
 * v.get_lock()). The counter of the notes:
 *     mt_lock_acquire(mt_value_lock(v), -1);
 *     ++*(int *)mt_value_ptr(v);
 *     mt_lock_release(mt_value_lock(v)); */
MT_EXPORT void *mt_value_ptr(mt_value *v);
MT_EXPORT mt_lock *mt_value_lock(mt_value *v);
MT_EXPORT int mt_value_get(mt_value *v, void *out);
MT_EXPORT int mt_value_set(mt_value *v, const void *in);
MT_EXPORT void mt_value_free(mt_value *v);

/* ---- Pipe (multiprocessing.Pipe, Connection) ---- */

typedef struct mt_conn mt_conn;

/* The longest message a connection carries. */
#define MT_CONN_MSG_MAX ((size_t)1 << 30)

/* Fork: both ends are inherited, and a child uses the handles it got from
 * its parent. As with Python's Pipe, each process closes the ends it does
 * not use: a receiver sees EOF only once every copy of the other end is
 * closed, its own process's included. Messages longer than 64 KiB travel
 * in several pieces, so one end must not be used by two processes (or
 * threads) at once in the same direction; shorter ones always arrive
 * whole. Nothing survives exec (close-on-exec). */

/* mt_pipe_new - two connected ends. duplex: both ends send and receive
 * (Python's Pipe()); otherwise a only receives and b only sends (Python's
 * Pipe(duplex=False) returns (receiver, sender) in that order too).
 * Messages keep their boundaries and order. Returns 0, -EMFILE, -ENOMEM. */
MT_EXPORT int mt_pipe_new(mt_conn **a, mt_conn **b, bool duplex);

/* mt_conn_send - send len bytes as one message, waiting for room as long
 * as it takes (Python's send_bytes). Returns 0, -EPIPE (every copy of the
 * other end is closed; no SIGPIPE is raised), -EBADF (a receive-only end),
 * -EMSGSIZE (len > MT_CONN_MSG_MAX), -EINVAL. A short message costs one
 * system call. */
MT_EXPORT int mt_conn_send(mt_conn *c, const void *msg, size_t len);

/* mt_conn_recv - receive the next message into buf, waiting up to timeout
 * seconds. Returns 0 with *len set; -EAGAIN (nothing arrived in time);
 * -EPIPE (the other end is closed and every message was received: EOF);
 * -EMSGSIZE when the message is longer than cap: *len is set to its
 * length and the message stays, to be received with a bigger buffer;
 * -EBADF (a send-only end); -EPROTO (the other side broke the framing: a
 * malformed or oversized header; every later receive returns it too);
 * -EINVAL. After an error buf may have been written. The timeout bounds
 * the wait for a message to begin: once the first 64 KiB of a longer one
 * are in, the call waits for the rest, which the sender is writing. A
 * message that is there already costs one system call. */
MT_EXPORT int mt_conn_recv(mt_conn *c, void *buf, size_t cap, size_t *len, double timeout);

/* mt_conn_recv_alloc - mt_conn_recv into a buffer of the right size,
 * allocated with malloc (the caller frees *msg). Same returns, and
 * -ENOMEM. */
MT_EXPORT int mt_conn_recv_alloc(mt_conn *c, void **msg, size_t *len, double timeout);

/* mt_conn_poll - wait up to timeout seconds until a message (or EOF) is
 * there to receive. Returns 1 if so, 0 if not, -EBADF (a send-only end),
 * -EINVAL. */
MT_EXPORT int mt_conn_poll(mt_conn *c, double timeout);

/* mt_conn_fd - a descriptor that polls readable when mt_conn_poll would
 * return 1 (Python's fileno()), to wait on a connection beside sockets.
 * Owned by the connection. One exception: after -EMSGSIZE (or -EPROTO)
 * the connection itself holds what the next receive returns, so receive
 * it before waiting on the descriptor again. */
MT_EXPORT int mt_conn_fd(const mt_conn *c);

/* mt_conn_close - close this process's copy of the end and free the
 * handle. The other end sees EOF once every process closed its copy (or
 * ended), as with Python's Connection.close. NULL is ignored.
 *
 * A connection is used by one thread at a time on each side: one sender
 * and one receiver may work at once, as with Python's Connection. */
MT_EXPORT void mt_conn_close(mt_conn *c);

/* ---- Queue between processes (multiprocessing.Queue, JoinableQueue) ---- */

typedef struct mt_ipc_queue mt_ipc_queue;

/* mt_ipc_queue_new - a queue of byte messages in shared memory, first in
 * first out, holding at most maxsize messages (Python's maxsize; 0 gives
 * 1024) of at most max_message bytes each (0 gives 64 KiB). Any number of
 * processes and threads may put and get at once. The ring takes
 * maxsize * (max_message + 16 to 31) bytes of address space; a queue that
 * keeps up uses only its first pages, and one descriptor (mt_ipc_queue_fd).
 * Returns 0, -EINVAL (that is 4 GiB or more), -ENOMEM, -EMFILE, -ENFILE.
 *
 * Every call below may also return -EPROTO or -EBADMSG when the queue's
 * shared memory was overwritten (a stray store in some process): the
 * queue is then beyond use, but never read or written out of bounds; and
 * -ENOTRECOVERABLE when one of its locks was left unusable (sync.h). */
MT_EXPORT int mt_ipc_queue_new(mt_ipc_queue **q, size_t maxsize, size_t max_message);

/* mt_ipc_queue_put - copy len bytes in as one message, waiting up to
 * timeout seconds for room. Returns 0 once the message is in the queue
 * (from then on it is received exactly once, whoever dies), -EAGAIN (still
 * full: Python's Full), -EPIPE (closed), -EMSGSIZE (len > max_message),
 * -EINVAL. */
MT_EXPORT int mt_ipc_queue_put(mt_ipc_queue *q, const void *msg, size_t len, double timeout);

/* mt_ipc_queue_get - take the oldest message into buf, waiting up to
 * timeout seconds for one. Returns 0 with *len set, -EAGAIN (still empty:
 * Python's Empty), -EPIPE (closed and drained), -EMSGSIZE (the message is
 * longer than cap: *len is its length and it stays in the queue), -EINVAL.
 * A message leaves the queue only when it has been copied whole into buf:
 * a get killed before that leaves it for another consumer. */
MT_EXPORT int mt_ipc_queue_get(mt_ipc_queue *q, void *buf, size_t cap, size_t *len,
			       double timeout);

/* mt_ipc_queue_qsize, mt_ipc_queue_empty, mt_ipc_queue_full - snapshots,
 * as Python's (which another process may change at once). They take no
 * lock; qsize is 0 for an overwritten queue. */
MT_EXPORT size_t mt_ipc_queue_qsize(mt_ipc_queue *q);
MT_EXPORT bool mt_ipc_queue_empty(mt_ipc_queue *q);
MT_EXPORT bool mt_ipc_queue_full(mt_ipc_queue *q);

/* mt_ipc_queue_task_done, mt_ipc_queue_join - JoinableQueue's: every
 * successful put adds an unfinished task, task_done ends one (-EINVAL when
 * none is left, Python's ValueError), join waits up to timeout seconds
 * until none is left (-ETIMEDOUT). A consumer that dies before its
 * task_done leaves its task unfinished: join with a timeout. */
MT_EXPORT int mt_ipc_queue_task_done(mt_ipc_queue *q);
MT_EXPORT int mt_ipc_queue_join(mt_ipc_queue *q, double timeout);

/* mt_ipc_queue_close - refuse further puts (-EPIPE) in every process and
 * wake every blocked put and get: gets drain what is left, then return
 * -EPIPE. Idempotent. */
MT_EXPORT void mt_ipc_queue_close(mt_ipc_queue *q);
MT_EXPORT bool mt_ipc_queue_closed(mt_ipc_queue *q);

/* mt_ipc_queue_fd - a descriptor that polls readable (POLLIN) while q may
 * hold a message, or once it is closed, in every process that shares q:
 * to wait for the queue beside sockets, process sentinels and futures
 * (multiprocessing's Queue._reader). Readable is a hint, as for a socket
 * several processes read: when poll says so, get with timeout 0 until
 * -EAGAIN; the get that finds the queue empty clears the descriptor and
 * the next put makes it readable again. It is an eventfd made with the
 * queue (so processes forked afterwards hold it too) and owned by q.
 * Until some process first calls this, puts and gets pay nothing for it;
 * afterwards a put into a drained queue, and a get that finds it empty,
 * make one system call. A producer killed between its commit and the
 * signal leaves the descriptor quiet until the next put (which repairs
 * what the dead left) or close: poll with a timeout when producers may
 * die. Returns
 * the descriptor, or -EINVAL. Thread- and process-safe. */
MT_EXPORT int mt_ipc_queue_fd(mt_ipc_queue *q);

/* mt_ipc_queue_free - this process's handle goes (no thread of it may be
 * using q); the queue goes with the last process. NULL is ignored. */
MT_EXPORT void mt_ipc_queue_free(mt_ipc_queue *q);

#ifdef __cplusplus
}
#endif
#endif
