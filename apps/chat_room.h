/* chat_room.h: the chat server's state and rules, without IO: the user
 * table (name and address of each user), what each datagram does to it
 * and whom it sends what. The server hands it every datagram with its
 * sender's address; the room answers through a send callback. The
 * hardening (docs/chat.md) lives here, so tests and the fuzz target check
 * it without sockets:
 *  - a C or Q must come from the address that logged the name in;
 *  - an address holds one name: a second L of the same name is answered
 *    OK again (the first OK may have been lost), of another name refused;
 *  - 管理员 speaks only from the server's own address (its admin process);
 *  - the table is bounded: when it is full, a login evicts the user heard
 *    from least recently if that one has been quiet for idle_seconds,
 *    otherwise it is refused;
 *  - a refused datagram changes nothing and gets an error reply, except
 *    one from the server's own address, which is dropped (a reply to
 *    itself would come back as a datagram, for ever). */
#ifndef MTASK_CHAT_ROOM_H
#define MTASK_CHAT_ROOM_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "chat_proto.h"

#define CHAT_ROOM_DEFAULT_USERS 256
#define CHAT_ROOM_DEFAULT_IDLE 600.0

/* Sends msg[0..len) to `to`; the room never waits for an answer. */
typedef void chat_send_fn(void *ctx, const struct sockaddr_in *to, const char *msg, size_t len);

struct chat_room_config {
	size_t max_users;	  /* 0: CHAT_ROOM_DEFAULT_USERS */
	double idle_seconds;	  /* quiet this long: evictable when full */
	struct sockaddr_in admin; /* the admin process's, i.e. the server's address */
};

struct chat_user {
	char name[CHAT_NAME_MAX + 1];
	struct sockaddr_in addr;
	double last_heard; /* the `now` of its last L or C */
};

struct chat_room {
	struct chat_room_config config;
	struct chat_user *users; /* config.max_users slots, the first count used */
	size_t count;
	chat_send_fn *send;
	void *ctx;
};

/* What one datagram did, for the server's log. */
struct chat_event {
	enum chat_error error;		 /* CHAT_OK, or why it was refused */
	bool parsed;			 /* req is valid */
	bool replied;			 /* an error reply went to the sender */
	struct chat_request req;	 /* points into the datagram */
	char evicted[CHAT_NAME_MAX + 1]; /* the user a login evicted, or "" */
};

/* chat_room_init - an empty room. Returns 0 or -ENOMEM. */
int chat_room_init(struct chat_room *room, const struct chat_room_config *config,
		   chat_send_fn *send, void *ctx);
void chat_room_free(struct chat_room *room);

/* chat_room_handle - what the datagram data[0..len) from `from` does, at
 * time `now` (seconds, any monotonic origin). Sends its messages through
 * the callback before returning and describes the outcome in *event. */
void chat_room_handle(struct chat_room *room, const struct sockaddr_in *from, const char *data,
		      size_t len, double now, struct chat_event *event);

/* chat_room_find - the user of that name, or NULL. */
const struct chat_user *chat_room_find(const struct chat_room *room, const char *name,
				       size_t name_len);

/* chat_same_addr - true when a and b are the same IPv4 address and port. */
bool chat_same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b);

#endif
