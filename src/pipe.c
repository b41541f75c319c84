/* pipe.c: multiprocessing.Pipe: two connected ends carrying byte messages.
 *
 * The wire. The two ends are an AF_UNIX SOCK_SEQPACKET socketpair: the
 * kernel keeps record boundaries, so a record is received whole and alone
 * by one recvmsg, and never mixed with the next. A message is one record
 * holding an 8-byte header (its length, and the length xor a constant)
 * followed by its first bytes, then, for a message longer than one record
 * (64 KiB, less if the socket's send buffer is smaller), as many
 * continuation records as it takes, bare bytes. So a short message costs
 * one sendmsg (header and bytes gathered from two iovecs) and one recvmsg
 * (scattered into the header, the caller's buffer, and a spare buffer of
 * the connection for what does not fit).
 *
 * Why a socket and not pipe(2): a pipe raises SIGPIPE in a writer whose
 * reader is gone, and the only per-call cure (block the signal, write,
 * collect a pending SIGPIPE, unblock) costs three more system calls per
 * send; changing the process's SIGPIPE disposition is not a library's to
 * do. send(MSG_NOSIGNAL) reports EPIPE without a signal at no cost. And
 * SEQPACKET rather than a stream: a stream would either take two reads
 * per message (the header, then exactly the bytes) or read ahead into a
 * buffer of ours, and then the descriptor would not poll readable for
 * messages already read ahead (mt_conn_fd's promise).
 *
 * Errors of the peer. A record too short for a header, a header whose check
 * does not match, a length over MT_CONN_MSG_MAX, or a record longer than
 * the protocol allows is a broken peer: -EPROTO, and for good, since the
 * record boundaries no longer tell where messages start. Nothing is
 * allocated from a length before its header passed the check.
 *
 * -EMSGSIZE. The first record has been read by then (the length is in
 * it): its bytes are moved into the connection's spare buffer and given
 * out by the next receive with a big enough buffer; later records stay in
 * the socket. Until then the descriptor may not poll readable for it.
 *
 * Timeouts bound the wait for a message to start. Once its first record
 * is in, the rest is being written by the sender, and the call waits for
 * it as Python's recv_bytes does: stopping half-way would leave part of
 * the message in the caller's buffer and part in the socket. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"
#include "mtask/ipc.h"

/* The longest record the protocol uses, header included. */
#define RECORD_MAX ((size_t)64 << 10)

struct frame_header {
	uint32_t length; /* of the whole message */
	uint32_t check;	 /* length ^ FRAME_MAGIC */
};

#define FRAME_MAGIC 0x6d745049u
#define FIRST_PAYLOAD_MAX (RECORD_MAX - sizeof(struct frame_header))

struct mt_conn {
	int fd;
	bool can_send, can_recv;
	size_t record_max; /* records this end sends: <= RECORD_MAX */
	/* The receiving side, used by one thread at a time. */
	bool broken;	    /* a malformed record came: every receive is -EPROTO */
	bool held;	    /* a message's first record waits in spare (-EMSGSIZE) */
	size_t held_length; /* that message's length */
	size_t held_bytes;  /* the bytes of it in spare */
	char *spare;	    /* FIRST_PAYLOAD_MAX bytes */
};

static const mt__deadline forever = {.forever = true};

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* ---- making and closing ---- */

/* Records must fit in the send buffer (the kernel refuses larger ones
 * with EMSGSIZE); half of it leaves room for the next while one is read. */
static size_t record_size_for(int fd)
{
	int sndbuf = 0;
	socklen_t size = sizeof sndbuf;
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &size) < 0 || sndbuf <= 0)
		return 4096;
	return min_size(RECORD_MAX, (size_t)sndbuf / 2);
}

static mt_conn *conn_new(int fd, bool can_recv, bool can_send)
{
	mt_conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	*c = (mt_conn){.fd = fd, .can_send = can_send, .can_recv = can_recv};
	if (can_send)
		c->record_max = record_size_for(fd);
	if (can_recv && !(c->spare = malloc(FIRST_PAYLOAD_MAX))) {
		free(c);
		return NULL;
	}
	return c;
}

int mt_pipe_new(mt_conn **a, mt_conn **b, bool duplex)
{
	if (!a || !b)
		return -EINVAL;
	int fds[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
		return -errno;
	mt_conn *receiver = conn_new(fds[0], true, duplex);
	mt_conn *sender = conn_new(fds[1], duplex, true);
	if (!receiver || !sender) {
		/* mt_conn_close closes the descriptor of a connection made */
		if (receiver)
			mt_conn_close(receiver);
		else
			close(fds[0]);
		if (sender)
			mt_conn_close(sender);
		else
			close(fds[1]);
		return -ENOMEM;
	}
	*a = receiver;
	*b = sender;
	return 0;
}

int mt_conn_fd(const mt_conn *c)
{
	return c->fd;
}

void mt_conn_close(mt_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c->spare);
	free(c);
}

/* ---- sending ---- */

/* Waits for room when somebody made the descriptor non-blocking. */
static int wait_for(int fd, short events, const mt__deadline *deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	for (;;) {
		struct timespec left = {0, 0};
		bool more = mt__deadline_left(deadline, &left);
		int n = ppoll(&pfd, 1, deadline->forever ? NULL : &left, NULL);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n == 0 && !more)
			return 0;
		/* A signal, or a wake-up a hair early: what is left is
		 * recomputed from the deadline. */
	}
}

/* Sends one record whole (SEQPACKET sends all or nothing). ECONNRESET is
 * how the kernel says the peer closed with records unread: gone too. */
static int send_record(mt_conn *c, struct iovec *iov, size_t count)
{
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = count};
	for (;;) {
		if (sendmsg(c->fd, &m, MSG_NOSIGNAL) >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			int ready = wait_for(c->fd, POLLOUT, &forever);
			if (ready < 0)
				return ready;
			continue;
		}
		if (errno == ECONNRESET || errno == ENOTCONN)
			return -EPIPE;
		return -errno;
	}
}

int mt_conn_send(mt_conn *c, const void *msg, size_t len)
{
	if (!c || (!msg && len))
		return -EINVAL;
	if (!c->can_send)
		return -EBADF;
	if (len > MT_CONN_MSG_MAX)
		return -EMSGSIZE;
	struct frame_header h = {.length = (uint32_t)len, .check = (uint32_t)len ^ FRAME_MAGIC};
	size_t first = min_size(len, c->record_max - sizeof h);
	struct iovec iov[2] = {{&h, sizeof h}, {(void *)msg, first}};
	int err = send_record(c, iov, 2);
	for (size_t sent = first; !err && sent < len; sent += iov[0].iov_len) {
		iov[0].iov_base = (char *)msg + sent;
		iov[0].iov_len = min_size(len - sent, c->record_max);
		err = send_record(c, iov, 1);
	}
	return err;
}

/* ---- receiving ---- */

static int protocol_error(mt_conn *c)
{
	c->broken = true;
	return -EPROTO;
}

/* Receives one record into iov, waiting until the deadline. Returns its
 * size (0: every copy of the other end is closed), -EAGAIN at the
 * deadline, -EPROTO for a record longer than iov, or -errno. For ever, it
 * is a single blocking recvmsg; with a deadline, a non-blocking one, and
 * only if nothing is there, a ppoll and another. */
static ssize_t receive_record(mt_conn *c, struct iovec *iov, size_t count,
			      const mt__deadline *deadline)
{
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = count};
	for (;;) {
		ssize_t n = recvmsg(c->fd, &m, deadline->forever ? 0 : MSG_DONTWAIT);
		if (n >= 0)
			return m.msg_flags & MSG_TRUNC ? -EPROTO : n;
		/* The kernel reports a peer that closed with records unread
		 * as ECONNRESET, once, before the records it sent: go on to
		 * them, and to the end of file after them. */
		if (errno == EINTR || errno == ECONNRESET)
			continue;
		if (errno != EAGAIN)
			return -errno;
		int ready = wait_for(c->fd, POLLIN, deadline);
		if (ready <= 0)
			return ready ? ready : -EAGAIN;
	}
}

static bool frame_valid(const struct frame_header *h, size_t payload)
{
	return (h->length ^ FRAME_MAGIC) == h->check && h->length <= MT_CONN_MSG_MAX &&
	       payload <= h->length && (payload > 0 || h->length == 0);
}

/* Keeps a first record that arrived for a too small buffer: in_buf of its
 * bytes went to the caller's buffer, the rest to spare. */
static void hold_first_record(mt_conn *c, const char *buf, size_t in_buf, size_t payload,
			      size_t length)
{
	memmove(c->spare + in_buf, c->spare, payload - in_buf);
	if (in_buf)
		memcpy(c->spare, buf, in_buf);
	c->held = true;
	c->held_length = length;
	c->held_bytes = payload;
}

/* Receives a message's first record: sets *length and *got (its bytes now
 * in buf). Returns 0, -EMSGSIZE (held, *length set), or an error. */
static int receive_first_record(mt_conn *c, char *buf, size_t cap, size_t *length, size_t *got,
				const mt__deadline *deadline)
{
	struct frame_header h;
	size_t direct = min_size(cap, FIRST_PAYLOAD_MAX);
	struct iovec iov[3] = {
		{&h, sizeof h}, {buf, direct}, {c->spare, FIRST_PAYLOAD_MAX - direct}};
	ssize_t n = receive_record(c, iov, 3, deadline);
	if (n == 0)
		return -EPIPE;
	if (n == -EPROTO || (n > 0 && (size_t)n < sizeof h))
		return protocol_error(c);
	if (n < 0)
		return (int)n;
	size_t payload = (size_t)n - sizeof h;
	if (!frame_valid(&h, payload))
		return protocol_error(c);
	*length = h.length;
	*got = payload;
	if (h.length <= cap)
		return 0; /* then payload <= direct: all of it is in buf */
	hold_first_record(c, buf, min_size(payload, direct), payload, h.length);
	return -EMSGSIZE;
}

/* Receives the continuation records of a message into buf after its first
 * got bytes. The sender is writing them: no deadline (see the top). */
static int receive_rest(mt_conn *c, char *buf, size_t got, size_t length)
{
	while (got < length) {
		struct iovec iov = {buf + got, length - got};
		ssize_t n = receive_record(c, &iov, 1, &forever);
		if (n == 0)
			return -EPIPE; /* the sender ended half-way */
		if (n < 0) {
			/* Where the next message starts is lost. */
			c->broken = true;
			return n == -EPROTO ? -EPROTO : (int)n;
		}
		got += (size_t)n;
	}
	return 0;
}

/* The one receive path of mt_conn_recv and mt_conn_recv_alloc. */
static int conn_receive(mt_conn *c, char *buf, size_t cap, size_t *len,
			const mt__deadline *deadline)
{
	size_t length = 0, got = 0;
	int err = 0;
	if (c->broken)
		return -EPROTO;
	if (c->held) {
		length = c->held_length;
		got = c->held_bytes;
		if (length > cap) {
			err = -EMSGSIZE;
		} else {
			memcpy(buf, c->spare, got);
			c->held = false;
		}
	} else {
		err = receive_first_record(c, buf, cap, &length, &got, deadline);
	}
	if (!err)
		err = receive_rest(c, buf, got, length);
	if (!err || err == -EMSGSIZE)
		*len = length;
	return err;
}

static int check_receiver(const mt_conn *c, const void *buf, size_t cap, const size_t *len)
{
	if (!c || (!buf && cap) || !len)
		return -EINVAL;
	return c->can_recv ? 0 : -EBADF;
}

int mt_conn_recv(mt_conn *c, void *buf, size_t cap, size_t *len, double timeout)
{
	mt__deadline deadline;
	int err = check_receiver(c, buf, cap, len);
	if (!err)
		err = mt__deadline_init(&deadline, timeout);
	return err ? err : conn_receive(c, buf, cap, len, &deadline);
}

int mt_conn_recv_alloc(mt_conn *c, void **msg, size_t *len, double timeout)
{
	mt__deadline deadline;
	int err = msg ? check_receiver(c, NULL, 0, len) : -EINVAL;
	if (!err)
		err = mt__deadline_init(&deadline, timeout);
	/* Without a buffer, a message of any length but 0 is held by its
	 * first record: one recvmsg tells the length, the second call copies. */
	size_t length = 0;
	if (!err)
		err = conn_receive(c, NULL, 0, &length, &deadline);
	if (err && err != -EMSGSIZE)
		return err;
	char *buf = malloc(length ? length : 1);
	if (!buf)
		return -ENOMEM; /* still held, for a later try */
	if (err)
		err = conn_receive(c, buf, length, &length, &deadline);
	if (err) {
		free(buf);
		return err;
	}
	*msg = buf;
	*len = length;
	return 0;
}

int mt_conn_poll(mt_conn *c, double timeout)
{
	mt__deadline deadline;
	if (!c || mt__deadline_init(&deadline, timeout))
		return -EINVAL;
	if (!c->can_recv)
		return -EBADF;
	if (c->held || c->broken)
		return 1; /* a receive returns at once */
	return wait_for(c->fd, POLLIN, &deadline);
}
