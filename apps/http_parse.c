/* http_parse.c: the HTTP/1.1 request head parser (http_parse.h). It walks
 * the complete lines of the buffer, checks each as RFC 9112 says, and
 * keeps only what the server needs: method, target, version, body length
 * and whether the connection stays open. Called again from the start
 * after every read: a head is at most head_max bytes, so the rescans cost
 * little and the parser needs no state between calls. */
#include "http_parse.h"

#include <string.h>

static const struct http_limits default_limits = {
	.head_max = HTTP_HEAD_MAX_DEFAULT,
	.fields_max = HTTP_FIELDS_MAX_DEFAULT,
	.body_max = HTTP_BODY_MAX_DEFAULT,
};

/* What the fields said, gathered while walking them. */
struct fields {
	int hosts, lengths;
	uint64_t length;
	bool close, keep_alive, transfer_encoding;
};

/* tchar of RFC 9110: the characters of methods and field names. */
static bool is_token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

/* field-vchar, SP and HTAB: anything but control characters. */
static bool is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

static bool equal_nocase(const char *s, size_t len, const char *word)
{
	size_t n = strlen(word);
	if (len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 'a' - 'A') : s[i];
		if (c != word[i])
			return false;
	}
	return true;
}

/* The line starting at pos: its length without CRLF in *line_len and the
 * next line's start in *next. HTTP_INCOMPLETE when no LF has come yet. */
static enum http_result next_line(const char *buf, size_t len, size_t pos, size_t *line_len,
				  size_t *next)
{
	const char *lf = memchr(buf + pos, '\n', len - pos);
	if (!lf)
		return HTTP_INCOMPLETE;
	size_t end = (size_t)(lf - buf);
	if (end == pos || buf[end - 1] != '\r')
		return HTTP_BAD_REQUEST; /* a bare LF */
	*line_len = end - 1 - pos;
	*next = end + 1;
	return HTTP_PARSED;
}

/* "HTTP/" DIGIT "." DIGIT, exactly. */
static enum http_result parse_version(const char *v, size_t len, struct http_request *req)
{
	if (len != 8 || memcmp(v, "HTTP/", 5) || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
	    v[7] < '0' || v[7] > '9')
		return HTTP_BAD_REQUEST;
	if (v[5] != '1')
		return HTTP_VERSION_UNSUPPORTED;
	req->minor_version = v[7] == '0' ? 0 : 1;
	return HTTP_PARSED;
}

/* method SP request-target SP HTTP-version */
static enum http_result parse_request_line(const char *line, size_t len, struct http_request *req)
{
	size_t i = 0;
	while (i < len && is_token_char((unsigned char)line[i]))
		i++;
	if (i == 0 || i == len || line[i] != ' ')
		return HTTP_BAD_REQUEST;
	req->method = line;
	req->method_len = i;
	size_t start = ++i;
	while (i < len && (unsigned char)line[i] > 0x20 && (unsigned char)line[i] < 0x7f)
		i++;
	if (i == start || i == len || line[i] != ' ')
		return HTTP_BAD_REQUEST;
	req->target = line + start;
	req->target_len = i - start;
	return parse_version(line + i + 1, len - i - 1, req);
}

/* 1*DIGIT, at most body_max. */
static enum http_result parse_length(const char *v, size_t len, const struct http_limits *limits,
				     uint64_t *out)
{
	uint64_t n = 0;
	if (len == 0)
		return HTTP_BAD_REQUEST;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return HTTP_BAD_REQUEST;
		if (n > (UINT64_MAX - 9) / 10)
			return HTTP_CONTENT_TOO_LARGE;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	*out = n;
	return n > limits->body_max ? HTTP_CONTENT_TOO_LARGE : HTTP_PARSED;
}

/* Connection: a comma-separated list of options. */
static void parse_connection(const char *v, size_t len, struct fields *f)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (is_space(v[i]) || v[i] == ','))
			i++;
		size_t start = i;
		while (i < len && v[i] != ',' && !is_space(v[i]))
			i++;
		f->close |= equal_nocase(v + start, i - start, "close");
		f->keep_alive |= equal_nocase(v + start, i - start, "keep-alive");
	}
}

static enum http_result use_field(const char *name, size_t name_len, const char *v, size_t len,
				  const struct http_limits *limits, struct fields *f)
{
	if (equal_nocase(name, name_len, "host"))
		f->hosts++;
	else if (equal_nocase(name, name_len, "connection"))
		parse_connection(v, len, f);
	else if (equal_nocase(name, name_len, "transfer-encoding"))
		f->transfer_encoding = true;
	else if (equal_nocase(name, name_len, "content-length")) {
		uint64_t n = 0;
		enum http_result r = parse_length(v, len, limits, &n);
		if (r != HTTP_PARSED)
			return r;
		/* Repeated with the same value is allowed; differing is smuggling. */
		if (f->lengths++ && n != f->length)
			return HTTP_BAD_REQUEST;
		f->length = n;
	}
	return HTTP_PARSED;
}

/* field-name ":" OWS field-value OWS; no space before the colon and no
 * line folding (a line starting with whitespace). */
static enum http_result parse_field(const char *line, size_t len, const struct http_limits *limits,
				    struct fields *f)
{
	size_t i = 0;
	while (i < len && is_token_char((unsigned char)line[i]))
		i++;
	if (i == 0 || i == len || line[i] != ':')
		return HTTP_BAD_REQUEST;
	size_t name_len = i++;
	for (size_t k = i; k < len; k++)
		if (!is_value_char((unsigned char)line[k]))
			return HTTP_BAD_REQUEST;
	while (i < len && is_space(line[i]))
		i++;
	size_t end = len;
	while (end > i && is_space(line[end - 1]))
		end--;
	return use_field(line, name_len, line + i, end - i, limits, f);
}

/* The head is complete: the rules that need all the fields. */
static enum http_result finish(const struct fields *f, size_t head_len, struct http_request *req)
{
	/* HTTP/1.1 needs exactly one Host; a body framed by Transfer-Encoding
	 * (chunked) is not supported, and refusing it keeps the framing
	 * unambiguous. */
	if (f->hosts > 1 || (req->minor_version == 1 && f->hosts != 1) || f->transfer_encoding)
		return HTTP_BAD_REQUEST;
	req->head_len = head_len;
	req->content_length = f->length;
	req->keep_alive = !f->close && (req->minor_version == 1 || f->keep_alive);
	return HTTP_PARSED;
}

enum http_result http_parse_request(const char *buf, size_t len, const struct http_limits *limits,
				    struct http_request *req)
{
	if (!limits)
		limits = &default_limits;
	/* Only the first head_max bytes can belong to the head. */
	size_t window = len < limits->head_max ? len : limits->head_max;
	struct fields f = {0};
	size_t pos = 0, line_len, next;
	*req = (struct http_request){0};
	for (size_t lines = 0;; lines++) {
		enum http_result r = next_line(buf, window, pos, &line_len, &next);
		if (r == HTTP_INCOMPLETE)
			return len >= limits->head_max ? HTTP_FIELDS_TOO_LARGE : HTTP_INCOMPLETE;
		if (r == HTTP_PARSED && lines == 0)
			r = parse_request_line(buf, line_len, req);
		else if (r == HTTP_PARSED && line_len == 0)
			return finish(&f, next, req);
		else if (r == HTTP_PARSED && ++req->field_count > limits->fields_max)
			r = HTTP_FIELDS_TOO_LARGE;
		else if (r == HTTP_PARSED)
			r = parse_field(buf + pos, line_len, limits, &f);
		if (r != HTTP_PARSED)
			return r;
		pos = next;
	}
}

const char *http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case HTTP_BAD_REQUEST:
		return "Bad Request";
	case HTTP_CONTENT_TOO_LARGE:
		return "Content Too Large";
	case HTTP_FIELDS_TOO_LARGE:
		return "Request Header Fields Too Large";
	case HTTP_VERSION_UNSUPPORTED:
		return "HTTP Version Not Supported";
	default:
		return "";
	}
}
