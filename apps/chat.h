/* chat.h: `mtask chat-server` and `mtask chat`, the notes' UDP chat room
 * (docs/chat.md): what cmd_chat.c hands to the server and the client. */
#ifndef MTASK_CHAT_H
#define MTASK_CHAT_H

#include <netinet/in.h>
#include <stddef.h>

struct chat_options {
	struct sockaddr_in addr; /* the server's: to bind, or to send to */
	const char *name;	 /* the client's NAME, or NULL: ask for it */
	size_t max_users;	 /* the server's table bound */
	double idle_seconds;	 /* quiet this long: evictable when full */
};

/* Each returns the program's exit status: 0 after a clean end, 1 after a
 * one-line error on stderr. */
int chat_server_run(const struct chat_options *options);
int chat_client_run(const struct chat_options *options);

/* "A.B.C.D:PORT" of addr into buf (at least 32 bytes); returns buf. */
const char *chat_addr_text(const struct sockaddr_in *addr, char *buf, size_t cap);

#endif
