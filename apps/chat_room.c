/* chat_room.c: the chat server's user table and routing (see
 * chat_room.h). The notes keep a dict {name: address}; this keeps an
 * array of at most max_users entries, searched linearly: every relay
 * visits all users anyway, and the bound keeps the search short. */
#include "chat_room.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int chat_room_init(struct chat_room *room, const struct chat_room_config *config,
		   chat_send_fn *send, void *ctx)
{
	*room = (struct chat_room){.config = *config, .send = send, .ctx = ctx};
	if (!room->config.max_users)
		room->config.max_users = CHAT_ROOM_DEFAULT_USERS;
	room->users = calloc(room->config.max_users, sizeof *room->users);
	return room->users ? 0 : -ENOMEM;
}

void chat_room_free(struct chat_room *room)
{
	free(room->users);
	room->users = NULL;
	room->count = 0;
}

bool chat_same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

static struct chat_user *find_name(const struct chat_room *room, const char *name, size_t len)
{
	for (size_t i = 0; i < room->count; i++)
		if (strlen(room->users[i].name) == len && !memcmp(room->users[i].name, name, len))
			return &room->users[i];
	return NULL;
}

const struct chat_user *chat_room_find(const struct chat_room *room, const char *name,
				       size_t name_len)
{
	return find_name(room, name, name_len);
}

static struct chat_user *find_addr(const struct chat_room *room, const struct sockaddr_in *addr)
{
	for (size_t i = 0; i < room->count; i++)
		if (chat_same_addr(&room->users[i].addr, addr))
			return &room->users[i];
	return NULL;
}

static void send_text(struct chat_room *room, const struct sockaddr_in *to, const char *msg,
		      int len)
{
	if (len >= 0)
		room->send(room->ctx, to, msg, (size_t)len);
}

/* msg to every user but the one at `except` (NULL: to all). */
static void broadcast(struct chat_room *room, const struct sockaddr_in *except, const char *msg,
		      int len)
{
	for (size_t i = 0; i < room->count; i++)
		if (!except || !chat_same_addr(&room->users[i].addr, except))
			send_text(room, &room->users[i].addr, msg, len);
}

/* EXIT to the leaver, then out of the table, then the notice to the
 * others: the notes' order. */
static void remove_user(struct chat_room *room, struct chat_user *user)
{
	char name[CHAT_NAME_MAX + 1], notice[CHAT_DATAGRAM_MAX + 1];
	memcpy(name, user->name, sizeof name);
	send_text(room, &user->addr, CHAT_REPLY_EXIT, (int)strlen(CHAT_REPLY_EXIT));
	*user = room->users[--room->count];
	int len = chat_format_leave_notice(notice, sizeof notice, name, strlen(name));
	broadcast(room, NULL, notice, len);
}

/* Room for one more, evicting the least recently heard user if it has
 * been quiet long enough. */
static bool make_room(struct chat_room *room, double now, struct chat_event *event)
{
	if (room->count < room->config.max_users)
		return true;
	struct chat_user *quietest = &room->users[0];
	for (size_t i = 1; i < room->count; i++)
		if (room->users[i].last_heard < quietest->last_heard)
			quietest = &room->users[i];
	if (now - quietest->last_heard < room->config.idle_seconds)
		return false;
	memcpy(event->evicted, quietest->name, sizeof event->evicted);
	remove_user(room, quietest);
	return true;
}

static enum chat_error login(struct chat_room *room, const struct sockaddr_in *from,
			     const struct chat_request *req, double now, struct chat_event *event)
{
	struct chat_user *mine = find_addr(room, from);
	if (mine && strlen(mine->name) == req->name_len &&
	    !memcmp(mine->name, req->name, req->name_len)) {
		send_text(room, from, CHAT_REPLY_OK, (int)strlen(CHAT_REPLY_OK));
		return CHAT_OK; /* the first OK was lost: say it again, tell nobody */
	}
	if (chat_name_reserved(req->name, req->name_len) ||
	    find_name(room, req->name, req->name_len))
		return CHAT_ERR_NAME_TAKEN;
	if (mine)
		return CHAT_ERR_ALREADY_IN;
	if (!make_room(room, now, event))
		return CHAT_ERR_FULL;
	send_text(room, from, CHAT_REPLY_OK, (int)strlen(CHAT_REPLY_OK));
	char notice[CHAT_DATAGRAM_MAX + 1];
	broadcast(room, NULL, notice,
		  chat_format_join_notice(notice, sizeof notice, req->name, req->name_len));
	struct chat_user *user = &room->users[room->count++];
	memcpy(user->name, req->name, req->name_len);
	user->name[req->name_len] = '\0';
	user->addr = *from;
	user->last_heard = now;
	return CHAT_OK;
}

/* The user that `from` is logged in as, if it is the one req names. */
static struct chat_user *sender(struct chat_room *room, const struct sockaddr_in *from,
				const struct chat_request *req)
{
	struct chat_user *user = find_addr(room, from);
	if (!user || strlen(user->name) != req->name_len ||
	    memcmp(user->name, req->name, req->name_len))
		return NULL;
	return user;
}

static enum chat_error say(struct chat_room *room, const struct sockaddr_in *from,
			   const struct chat_request *req, double now)
{
	struct chat_user *user = sender(room, from, req);
	if (!user)
		return CHAT_ERR_NOT_YOURS;
	user->last_heard = now;
	char relay[CHAT_DATAGRAM_MAX + 1];
	broadcast(room, from, relay, chat_format_relay(relay, sizeof relay, req));
	return CHAT_OK;
}

/* The admin process writes "C 管理员 text" from the server's own address;
 * anything else from there is dropped unanswered. */
static bool admin_says(struct chat_room *room, const struct chat_request *req)
{
	if (req->kind != CHAT_SAY || req->name_len != strlen(CHAT_ADMIN_NAME) ||
	    memcmp(req->name, CHAT_ADMIN_NAME, req->name_len))
		return false;
	char relay[CHAT_DATAGRAM_MAX + 1];
	broadcast(room, NULL, relay, chat_format_relay(relay, sizeof relay, req));
	return true;
}

static enum chat_error dispatch(struct chat_room *room, const struct sockaddr_in *from,
				const struct chat_request *req, double now,
				struct chat_event *event)
{
	switch (req->kind) {
	case CHAT_LOGIN:
		return login(room, from, req, now, event);
	case CHAT_SAY:
		return say(room, from, req, now);
	default: {
		struct chat_user *user = sender(room, from, req);
		if (!user)
			return CHAT_ERR_NOT_YOURS;
		remove_user(room, user);
		return CHAT_OK;
	}
	}
}

void chat_room_handle(struct chat_room *room, const struct sockaddr_in *from, const char *data,
		      size_t len, double now, struct chat_event *event)
{
	*event = (struct chat_event){0};
	event->error = chat_parse(data, len, &event->req);
	event->parsed = event->error == CHAT_OK;
	bool from_admin = chat_same_addr(from, &room->config.admin);
	if (from_admin) {
		if (event->parsed && !admin_says(room, &event->req))
			event->error = CHAT_ERR_NOT_YOURS;
		return;
	}
	if (event->parsed)
		event->error = dispatch(room, from, &event->req, now, event);
	if (event->error) {
		const char *reply = chat_error_reply(event->error);
		send_text(room, from, reply, (int)strlen(reply));
		event->replied = true;
	}
}
