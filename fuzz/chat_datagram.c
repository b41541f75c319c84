/* chat_datagram.c: fuzz target for the chat room's datagram parser and
 * the room behind it (apps/chat_proto.c, apps/chat_room.c). The input is
 * a sequence of datagrams from four senders (three users' addresses and
 * the server's own, the admin's); each goes to the parser alone, then to
 * a small room, and after each the target checks:
 *  - a parsed request lies inside the datagram, its name is 1-64 bytes,
 *    and formatting it again gives the datagram back, byte for byte;
 *  - a refused datagram got exactly one message, its error reply, to its
 *    sender (none when it came from the server's own address);
 *  - nothing is ever sent to the server's own address, nothing longer
 *    than 1024 bytes, nothing that is not UTF-8;
 *  - the table holds at most max_users users, no two with the same name
 *    or address, none named with 管理员.
 *
 * Input: per datagram, a header byte (sender in the low two bits, time
 * step in the rest), a length byte (below 250: the length; 250-255: 205
 * to 1230 bytes, so the 1024 limit is in reach), then that many bytes
 * (fewer at the end of the input). */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_proto.h"
#include "chat_room.h"

#define SENDERS 4
#define ADMIN_PORT 8888
#define MAX_USERS 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outbox {
	int count;
	struct sockaddr_in to[MAX_USERS + 2];
	char msg[MAX_USERS + 2][CHAT_DATAGRAM_MAX + 1];
};

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "chat_datagram: %s\n", what);
		abort();
	}
}

static void collect(void *ctx, const struct sockaddr_in *to, const char *msg, size_t len)
{
	struct outbox *out = ctx;
	check(out->count < MAX_USERS + 2, "more messages than users for one datagram");
	check(len <= CHAT_DATAGRAM_MAX, "a message longer than 1024 bytes");
	check(chat_utf8_valid(msg, len), "a message that is not UTF-8");
	check(ntohs(to->sin_port) != ADMIN_PORT, "a message to the server's own address");
	out->to[out->count] = *to;
	memcpy(out->msg[out->count], msg, len);
	out->msg[out->count++][len] = '\0';
}

static struct sockaddr_in sender(int index)
{
	int port = index == SENDERS - 1 ? ADMIN_PORT : 1000 + index;
	return (struct sockaddr_in){.sin_family = AF_INET,
				    .sin_port = htons((uint16_t)port),
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
}

/* The parser alone: bounds, and the round trip through the formatters. */
static void check_parse(const char *d, size_t len)
{
	struct chat_request req;
	if (chat_parse(d, len, &req) != CHAT_OK)
		return;
	check(req.name >= d && req.name + req.name_len <= d + len, "name outside the datagram");
	check(req.text >= d && req.text + req.text_len <= d + len, "text outside the datagram");
	check(req.name_len >= 1 && req.name_len <= CHAT_NAME_MAX, "a name of a wrong length");
	char name[CHAT_NAME_MAX + 1], text[CHAT_DATAGRAM_MAX + 1], again[CHAT_DATAGRAM_MAX + 1];
	memcpy(name, req.name, req.name_len);
	name[req.name_len] = '\0';
	memcpy(text, req.text, req.text_len);
	text[req.text_len] = '\0';
	int n = req.kind == CHAT_LOGIN	? chat_format_login(again, sizeof again, name)
		: req.kind == CHAT_QUIT ? chat_format_quit(again, sizeof again, name)
					: chat_format_say(again, sizeof again, name, text);
	check(n == (int)len && !memcmp(again, d, len), "formatting does not give it back");
}

static void check_table(const struct chat_room *room)
{
	check(room->count <= MAX_USERS, "more users than the bound");
	for (size_t i = 0; i < room->count; i++) {
		const struct chat_user *u = &room->users[i];
		check(!chat_name_reserved(u->name, strlen(u->name)), "a user named with 管理员");
		for (size_t k = i + 1; k < room->count; k++) {
			check(strcmp(u->name, room->users[k].name), "two users of one name");
			check(!chat_same_addr(&u->addr, &room->users[k].addr),
			      "two users at one address");
		}
	}
}

static void check_refusal(const struct chat_event *event, const struct outbox *out, int who)
{
	if (event->error == CHAT_OK)
		return;
	if (who == SENDERS - 1) {
		check(out->count == 0, "an answer to the server's own address");
		return;
	}
	struct sockaddr_in from = sender(who);
	check(out->count == 1 && chat_same_addr(&out->to[0], &from) &&
		      !strcmp(out->msg[0], chat_error_reply(event->error)),
	      "a refusal not answered by its one error reply");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outbox out;
	struct chat_room room;
	struct chat_room_config config = {
		.max_users = MAX_USERS, .idle_seconds = 4, .admin = sender(SENDERS - 1)};
	check(chat_room_init(&room, &config, collect, &out) == 0, "cannot make a room");
	double now = 0;
	while (size >= 2) {
		int who = data[0] % SENDERS;
		now += data[0] >> 2;
		size_t len = data[1] < 250 ? data[1] : (size_t)(data[1] - 249) * 205;
		data += 2;
		size -= 2;
		len = len < size ? len : size;
		check_parse((const char *)data, len);
		struct sockaddr_in from = sender(who);
		struct chat_event event;
		out.count = 0;
		chat_room_handle(&room, &from, (const char *)data, len, now, &event);
		check_refusal(&event, &out, who);
		check_table(&room);
		data += len;
		size -= len;
	}
	chat_room_free(&room);
	return 0;
}
