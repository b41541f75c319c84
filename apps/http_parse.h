/* http_parse.h: the HTTP/1.1 request parser of `mtask serve`. Pure: no IO,
 * no allocation, no global state; it looks at the bytes received so far
 * and says whether they start with a whole request head, how long that
 * head is, what the connection must do next (keep alive or close, how many
 * body bytes to skip), or which error status to answer with. The caller
 * calls it again after each read, and after each request it consumed, so
 * pipelined requests in one buffer and requests split across reads are
 * the same case. docs/serve.md lists the rules. */
#ifndef MTASK_HTTP_PARSE_H
#define MTASK_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default limits: nginx's 8 KiB head (large_client_header_buffers), at
 * most 64 header fields, at most 1 MiB of body (client_max_body_size). */
#define HTTP_HEAD_MAX_DEFAULT 8192
#define HTTP_FIELDS_MAX_DEFAULT 64
#define HTTP_BODY_MAX_DEFAULT (1024 * 1024)

struct http_limits {
	size_t head_max;   /* bytes of request line + fields + blank line */
	size_t fields_max; /* header fields */
	uint64_t body_max; /* Content-Length */
};

/* What http_parse_request found. The error values are the status codes
 * to answer with, after which the connection closes. */
enum http_result {
	HTTP_PARSED = 0,		/* a whole head: *req is filled in */
	HTTP_INCOMPLETE = 1,		/* no error so far; read more */
	HTTP_BAD_REQUEST = 400,		/* malformed */
	HTTP_CONTENT_TOO_LARGE = 413,	/* Content-Length above body_max */
	HTTP_FIELDS_TOO_LARGE = 431,	/* head above head_max, or too many fields */
	HTTP_VERSION_UNSUPPORTED = 505, /* a well-formed HTTP/x.y with x != 1 */
};

/* One request head. Pointers point into the buffer given to the parser. */
struct http_request {
	const char *method;
	size_t method_len;
	const char *target;
	size_t target_len;
	int minor_version; /* 0 for HTTP/1.0, 1 for HTTP/1.1 and later 1.x */
	size_t field_count;
	size_t head_len;	 /* bytes the head takes: the body starts here */
	uint64_t content_length; /* body bytes that follow the head (0: none) */
	bool keep_alive;	 /* the connection stays open after the answer */
};

/* http_parse_request - parse the request head at the start of buf[0..len).
 * Returns HTTP_PARSED (req filled in; the head is req->head_len bytes and
 * req->content_length body bytes follow it), HTTP_INCOMPLETE (the bytes so
 * far are a valid beginning), or an error status. A line that is complete
 * is checked at once, so garbage is refused without waiting for the blank
 * line. Lines end with CRLF; a bare LF or CR is 400. limits NULL: the
 * defaults. */
enum http_result http_parse_request(const char *buf, size_t len, const struct http_limits *limits,
				    struct http_request *req);

/* http_reason - the reason phrase of a status this server sends, "" for
 * others. */
const char *http_reason(int status);

#endif
