/* chat_proto.c: the chat room's wire protocol (see chat_proto.h): the
 * notes split a datagram with data.decode().split(' ', 2); this parser
 * takes the same three fields, and refuses what would have crashed or
 * confused the notes' server: bytes that are not UTF-8 (decode() raises),
 * a missing field (IndexError), names with control characters. */
#include "chat_proto.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The length of the UTF-8 sequence starting at s[0..len), or 0 when it is
 * not well-formed; the code point goes to *cp. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t n = c < 0x80		    ? 1
		   : c >= 0xc2 && c <= 0xdf ? 2
		   : (c & 0xf0) == 0xe0	    ? 3
		   : c >= 0xf0 && c <= 0xf4 ? 4
					    : 0;
	if (n == 0 || n > len)
		return 0;
	uint32_t value = n == 1 ? c : c & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		value = value << 6 | (s[i] & 0x3f);
	}
	static const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
	if (value < smallest[n] || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff))
		return 0;
	*cp = value;
	return n;
}

bool chat_utf8_valid(const char *data, size_t len)
{
	const unsigned char *s = (const unsigned char *)data;
	uint32_t cp;
	for (size_t i = 0, n; i < len; i += n)
		if (!(n = utf8_decode(s + i, len - i, &cp)))
			return false;
	return true;
}

/* has_control's `allowed` when no control is. */
#define NO_CONTROL UINT32_MAX

/* C0 and C1 controls and DEL: what may move a terminal's cursor. */
static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* True when valid UTF-8 s[0..len) holds a control other than `allowed`. */
static bool has_control(const char *s, size_t len, uint32_t allowed)
{
	uint32_t cp = 0;
	for (size_t i = 0, n; i < len; i += n) {
		n = utf8_decode((const unsigned char *)s + i, len - i, &cp);
		if (is_control(cp) && cp != allowed)
			return true;
	}
	return false;
}

static enum chat_error check_name(const char *name, size_t len)
{
	if (len == 0)
		return CHAT_ERR_EMPTY_NAME;
	if (len > CHAT_NAME_MAX)
		return CHAT_ERR_NAME_LONG;
	return has_control(name, len, NO_CONTROL) ? CHAT_ERR_NAME_CHARS : CHAT_OK;
}

enum chat_error chat_parse(const char *data, size_t len, struct chat_request *req)
{
	if (len > CHAT_DATAGRAM_MAX)
		return CHAT_ERR_TOO_LONG;
	if (!chat_utf8_valid(data, len))
		return CHAT_ERR_UTF8;
	if (len < 2 || data[1] != ' ')
		return CHAT_ERR_FORM;
	if (data[0] != CHAT_LOGIN && data[0] != CHAT_SAY && data[0] != CHAT_QUIT)
		return CHAT_ERR_COMMAND;
	const char *name = data + 2, *end = data + len;
	const char *space = memchr(name, ' ', (size_t)(end - name));
	*req = (struct chat_request){
		.kind = (enum chat_kind)data[0],
		.name = name,
		.name_len = (size_t)((space ? space : end) - name),
		.text = space ? space + 1 : end,
	};
	req->text_len = (size_t)(end - req->text);
	enum chat_error err = check_name(req->name, req->name_len);
	if (err)
		return err;
	if (req->kind != CHAT_SAY)
		return space ? CHAT_ERR_EXTRA : CHAT_OK;
	if (!space)
		return CHAT_ERR_FORM;
	return has_control(req->text, req->text_len, '\t') ? CHAT_ERR_TEXT_CHARS : CHAT_OK;
}

bool chat_name_reserved(const char *name, size_t len)
{
	return memmem(name, len, CHAT_ADMIN_NAME, strlen(CHAT_ADMIN_NAME)) != NULL;
}

const char *chat_error_reply(enum chat_error e)
{
	/* A leading newline, as the notes' notices have: their client prints
	 * what it receives after its pending '>>' prompt. */
	static const char *const replies[CHAT_ERR_COUNT] = {
		[CHAT_OK] = "",
		[CHAT_ERR_TOO_LONG] = "\nerror: datagram longer than 1024 bytes",
		[CHAT_ERR_UTF8] = "\nerror: not UTF-8",
		[CHAT_ERR_FORM] = "\nerror: not a request (L name | C name text | Q name)",
		[CHAT_ERR_COMMAND] = "\nerror: unknown command (L name | C name text | Q name)",
		[CHAT_ERR_EMPTY_NAME] = "\nerror: empty name",
		[CHAT_ERR_NAME_LONG] = "\nerror: name longer than 64 bytes",
		[CHAT_ERR_NAME_CHARS] = "\nerror: name holds a control character",
		[CHAT_ERR_EXTRA] = "\nerror: a name may not hold a space",
		[CHAT_ERR_TEXT_CHARS] = "\nerror: text holds a control character",
		[CHAT_ERR_NAME_TAKEN] = CHAT_REPLY_NAME_TAKEN,
		[CHAT_ERR_NOT_YOURS] = "\nerror: that name is not yours",
		[CHAT_ERR_ALREADY_IN] = "\nerror: this address is in the room under another name",
		[CHAT_ERR_FULL] = "\nerror: the room is full",
	};
	return e >= 0 && e < CHAT_ERR_COUNT ? replies[e] : "\nerror";
}

const char *chat_error_reason(enum chat_error e)
{
	const char *reply = chat_error_reply(e);
	reply += reply[0] == '\n';
	return strncmp(reply, "error: ", 7) ? reply : reply + 7;
}

/* snprintf's result as a message length: -1 when it did not fit. */
static int fitted(int n, size_t cap)
{
	return n < 0 || (size_t)n >= cap || n > CHAT_DATAGRAM_MAX ? -1 : n;
}

int chat_format_login(char *buf, size_t cap, const char *name)
{
	return fitted(snprintf(buf, cap, "L %s", name), cap);
}

int chat_format_say(char *buf, size_t cap, const char *name, const char *text)
{
	return fitted(snprintf(buf, cap, "C %s %s", name, text), cap);
}

int chat_format_quit(char *buf, size_t cap, const char *name)
{
	return fitted(snprintf(buf, cap, "Q %s", name), cap);
}

int chat_format_relay(char *buf, size_t cap, const struct chat_request *req)
{
	return fitted(snprintf(buf, cap, "%.*s:%.*s", (int)req->name_len, req->name,
			       (int)req->text_len, req->text),
		      cap);
}

int chat_format_join_notice(char *buf, size_t cap, const char *name, size_t name_len)
{
	return fitted(snprintf(buf, cap, "\n欢迎%.*s加入群聊", (int)name_len, name), cap);
}

int chat_format_leave_notice(char *buf, size_t cap, const char *name, size_t name_len)
{
	return fitted(snprintf(buf, cap, "\n%.*s 退出群聊", (int)name_len, name), cap);
}

size_t chat_display(char *out, size_t cap, const char *msg, size_t len)
{
	while (len && msg[0] == '\n')
		msg++, len--;
	while (len && msg[len - 1] == '\n')
		len--;
	size_t used = 0;
	uint32_t cp;
	for (size_t i = 0, n; i < len; i += n) {
		n = utf8_decode((const unsigned char *)msg + i, len - i, &cp);
		bool shown = n && (!is_control(cp) || cp == '\n' || cp == '\t');
		size_t width = shown ? n : 1;
		n = n ? n : 1;
		if (used + width >= cap)
			break;
		if (shown)
			memcpy(out + used, msg + i, width);
		else
			out[used] = '?';
		used += width;
	}
	out[used] = '\0';
	return used;
}
