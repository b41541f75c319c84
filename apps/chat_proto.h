/* chat_proto.h: the chat room's wire protocol, the notes' byte for byte
 * (docs/chat.md has the table): parsing a datagram into a request,
 * checking names, text and UTF-8, and formatting every message the server
 * and the client send. Pure: no IO, no allocation, no global state, so the
 * unit tests and the fuzz target drive it directly. */
#ifndef MTASK_CHAT_PROTO_H
#define MTASK_CHAT_PROTO_H

#include <stdbool.h>
#include <stddef.h>

/* The notes' recvfrom(1024): no datagram of the protocol is longer. */
#define CHAT_DATAGRAM_MAX 1024
/* Names are at most this many bytes (the notes set no bound). */
#define CHAT_NAME_MAX 64
#define CHAT_DEFAULT_PORT 8888
/* The admin's name; a user's name may not be or contain it. */
#define CHAT_ADMIN_NAME "管理员"

/* The notes' replies and notices, exactly. */
#define CHAT_REPLY_OK "OK"
#define CHAT_REPLY_EXIT "EXIT"
#define CHAT_REPLY_NAME_TAKEN "\n用户名存在"

enum chat_kind {
	CHAT_LOGIN = 'L', /* L name */
	CHAT_SAY = 'C',	  /* C name text */
	CHAT_QUIT = 'Q',  /* Q name */
};

/* Why a datagram is refused; each has its reply (chat_error_reply). The
 * first group is the parser's, the second the room's. */
enum chat_error {
	CHAT_OK = 0,
	CHAT_ERR_TOO_LONG,   /* longer than CHAT_DATAGRAM_MAX bytes */
	CHAT_ERR_UTF8,	     /* not valid UTF-8 */
	CHAT_ERR_FORM,	     /* no "X " at the start, or C without text */
	CHAT_ERR_COMMAND,    /* a command other than L, C, Q */
	CHAT_ERR_EMPTY_NAME, /* nothing between the spaces */
	CHAT_ERR_NAME_LONG,  /* longer than CHAT_NAME_MAX bytes */
	CHAT_ERR_NAME_CHARS, /* a name holding a control character */
	CHAT_ERR_EXTRA,	     /* L or Q followed by more than a name */
	CHAT_ERR_TEXT_CHARS, /* text holding a control character */
	CHAT_ERR_NAME_TAKEN, /* L of a name in use or holding 管理员 */
	CHAT_ERR_NOT_YOURS,  /* C or Q naming a user of another address */
	CHAT_ERR_ALREADY_IN, /* L of a second name from one address */
	CHAT_ERR_FULL,	     /* L when the room is full */
	CHAT_ERR_COUNT
};

/* A parsed request. name and text point into the datagram and are not
 * NUL-terminated; text is empty (and only meaningful) for C. */
struct chat_request {
	enum chat_kind kind;
	const char *name;
	size_t name_len;
	const char *text;
	size_t text_len;
};

/* chat_utf8_valid - true when data[0..len) is well-formed UTF-8 (no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
bool chat_utf8_valid(const char *data, size_t len);

/* chat_parse - parse one datagram of len bytes (len may exceed
 * CHAT_DATAGRAM_MAX: CHAT_ERR_TOO_LONG). Returns CHAT_OK and fills *req,
 * or the parser's error; never reads beyond data[len). The checks run in
 * the order of enum chat_error, so a datagram gets its first fault. */
enum chat_error chat_parse(const char *data, size_t len, struct chat_request *req);

/* chat_name_reserved - true when the name is or contains 管理员. */
bool chat_name_reserved(const char *name, size_t len);

/* chat_error_reply - the NUL-terminated reply the server sends for e
 * (docs/chat.md lists them); "" for CHAT_OK. */
const char *chat_error_reply(enum chat_error e);

/* chat_error_reason - the reply without its leading newline and "error: ",
 * for a log line or a message on stderr. */
const char *chat_error_reason(enum chat_error e);

/* Formatters: each writes the message into buf (cap bytes, always
 * NUL-terminated when cap > 0) and returns its length, or -1 when it would
 * not fit in cap - 1 bytes or in CHAT_DATAGRAM_MAX. */
int chat_format_login(char *buf, size_t cap, const char *name);			/* L name */
int chat_format_say(char *buf, size_t cap, const char *name, const char *text); /* C */
int chat_format_quit(char *buf, size_t cap, const char *name);			/* Q name */
/* name:text, the relay of a C to the others */
int chat_format_relay(char *buf, size_t cap, const struct chat_request *req);
/* \n欢迎NAME加入群聊 and \nNAME 退出群聊, to the others */
int chat_format_join_notice(char *buf, size_t cap, const char *name, size_t name_len);
int chat_format_leave_notice(char *buf, size_t cap, const char *name, size_t name_len);

/* chat_display - make a received message safe to print on a terminal:
 * the leading and trailing newlines of the notes' notices dropped, every
 * control character other than newline and tab, and every byte that is
 * not UTF-8, shown as '?'. Writes at most cap - 1 bytes and a NUL into
 * out (cap > 0); returns the length written. */
size_t chat_display(char *out, size_t cap, const char *msg, size_t len);

#endif
