/* test_http_parse.c: the HTTP/1.1 request parser of `mtask serve` without
 * sockets: good requests and what they say about the connection,
 * pipelined requests in one buffer, requests split at every byte, every
 * malformed case with its status, and the limits. */
#include "http_parse.h"
#include "testutil.h"

static enum http_result parse(const char *s, struct http_request *req)
{
	return http_parse_request(s, strlen(s), NULL, req);
}

static void assert_field(const char *field, size_t len, const char *want)
{
	assert_int_equal(len, strlen(want));
	assert_memory_equal(field, want, len);
}

/* ---- good requests ---- */

static void a_get_parses(void **state)
{
	const char *s = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
	struct http_request r;
	assert_int_equal(parse(s, &r), HTTP_PARSED);
	assert_field(r.method, r.method_len, "GET");
	assert_field(r.target, r.target_len, "/index.html?q=1");
	assert_int_equal(r.minor_version, 1);
	assert_int_equal(r.field_count, 2);
	assert_int_equal(r.head_len, strlen(s));
	assert_int_equal(r.content_length, 0);
	assert_true(r.keep_alive);
}

static void keep_alive_follows_version_and_connection(void **state)
{
	static const struct {
		const char *head;
		bool keep_alive;
	} cases[] = {
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nconnection:  Upgrade, CLOSE \r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", true},
		{"GET / HTTP/1.0\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
		{"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
		{"GET / HTTP/1.9\r\nHost: a\r\n\r\n", true}, /* a later 1.x reads as 1.1 */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_request r;
		assert_int_equal(parse(cases[i].head, &r), HTTP_PARSED);
		if (r.keep_alive != cases[i].keep_alive)
			fail_msg("case %zu: %s", i, cases[i].head);
	}
}

static void content_length_is_reported_for_skipping(void **state)
{
	struct http_request r;
	const char *s = "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
	assert_int_equal(parse(s, &r), HTTP_PARSED);
	assert_int_equal(r.content_length, 5);
	assert_int_equal(r.head_len, strlen(s) - 5);
	/* The same length twice is allowed. */
	assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
			       "Content-Length: 3\r\n\r\n",
			       &r),
			 HTTP_PARSED);
	assert_int_equal(r.content_length, 3);
}

static void values_may_hold_tabs_and_high_bytes(void **state)
{
	struct http_request r;
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nX-Name: \xe4\xbd\xa0\tb\r\n"
			       "Empty:\r\n\r\n",
			       &r),
			 HTTP_PARSED);
	assert_int_equal(r.field_count, 3);
}

/* ---- pipelining and split reads ---- */

static void pipelined_requests_parse_one_after_another(void **state)
{
	const char *s = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
			"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody"
			"GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
			"GET /4 HTT";
	const char *targets[] = {"/1", "/2", "/3"};
	size_t pos = 0, len = strlen(s);
	struct http_request r;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(http_parse_request(s + pos, len - pos, NULL, &r), HTTP_PARSED);
		assert_field(r.target, r.target_len, targets[i]);
		assert_int_equal(r.keep_alive, i != 2);
		pos += r.head_len + r.content_length;
	}
	assert_int_equal(http_parse_request(s + pos, len - pos, NULL, &r), HTTP_INCOMPLETE);
}

static void every_prefix_is_incomplete(void **state)
{
	const char *s = "GET /split HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n";
	struct http_request r;
	size_t len = strlen(s);
	for (size_t n = 0; n < len; n++)
		if (http_parse_request(s, n, NULL, &r) != HTTP_INCOMPLETE)
			fail_msg("prefix of %zu bytes is not incomplete", n);
	assert_int_equal(http_parse_request(s, len, NULL, &r), HTTP_PARSED);
	assert_field(r.target, r.target_len, "/split");
}

/* ---- malformed requests ---- */

static void malformed_requests_get_their_status(void **state)
{
	static const struct {
		const char *head;
		enum http_result status;
	} cases[] = {
		{"\r\n", HTTP_BAD_REQUEST},
		{"GET\r\n", HTTP_BAD_REQUEST},
		{"GET /\r\n", HTTP_BAD_REQUEST},
		{"GET / \r\n", HTTP_BAD_REQUEST},
		{"GET  / HTTP/1.1\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1 \r\n", HTTP_BAD_REQUEST},
		{" GET / HTTP/1.1\r\n", HTTP_BAD_REQUEST},
		{"G(T / HTTP/1.1\r\n", HTTP_BAD_REQUEST},
		{"GET /a\x01 HTTP/1.1\r\n", HTTP_BAD_REQUEST},
		{"GET / http/1.1\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.10\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/x.1\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1\rX\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/2.0\r\n", HTTP_VERSION_UNSUPPORTED},
		{"GET / HTTP/0.9\r\n", HTTP_VERSION_UNSUPPORTED},
		{"GET / HTTP/1.1\r\nHost: a\n\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1\r\nHost a\r\n\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1\r\nHost : a\r\n\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1\r\n: a\r\n\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1\r\n\r\n", HTTP_BAD_REQUEST}, /* 1.1 without Host */
		{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		 HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		 HTTP_BAD_REQUEST},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n",
		 HTTP_CONTENT_TOO_LARGE},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		 HTTP_CONTENT_TOO_LARGE},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_request r;
		enum http_result got = parse(cases[i].head, &r);
		if (got != cases[i].status)
			fail_msg("case %zu: %d, not %d", i, got, cases[i].status);
	}
}

/* A malformed line is refused as soon as it is complete, without waiting
 * for the rest of the head: a server answers garbage at once. */
static void garbage_is_refused_before_the_head_ends(void **state)
{
	struct http_request r;
	assert_int_equal(parse("HELLO THERE\r\n", &r), HTTP_BAD_REQUEST);
	assert_int_equal(parse("GET / HTTP/1.1\r\nno colon here\r\n", &r), HTTP_BAD_REQUEST);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n", &r), HTTP_INCOMPLETE);
}

static void a_nul_byte_is_refused(void **state)
{
	const char s[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	struct http_request r;
	assert_int_equal(http_parse_request(s, sizeof s - 1, NULL, &r), HTTP_BAD_REQUEST);
	const char m[] = "G\0T / HTTP/1.1\r\n";
	assert_int_equal(http_parse_request(m, sizeof m - 1, NULL, &r), HTTP_BAD_REQUEST);
}

/* ---- limits ---- */

static void a_head_above_the_limit_is_431(void **state)
{
	struct http_limits limits = {.head_max = 64, .fields_max = 8, .body_max = 10};
	struct http_request r;
	char buf[256];
	/* Exactly at the limit is fine. */
	int n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n",
			 "01234567890123456789012345678901");
	assert_int_equal(n, 64);
	assert_int_equal(http_parse_request(buf, (size_t)n, &limits, &r), HTTP_PARSED);
	/* One byte more, complete or not. */
	n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n",
		     "012345678901234567890123456789012");
	assert_int_equal(http_parse_request(buf, (size_t)n, &limits, &r), HTTP_FIELDS_TOO_LARGE);
	assert_int_equal(http_parse_request(buf, 64, &limits, &r), HTTP_FIELDS_TOO_LARGE);
	assert_int_equal(http_parse_request(buf, 63, &limits, &r), HTTP_INCOMPLETE);
	/* A request line with no end in sight. */
	memset(buf, 'a', sizeof buf);
	memcpy(buf, "GET /", 5);
	assert_int_equal(http_parse_request(buf, sizeof buf, &limits, &r), HTTP_FIELDS_TOO_LARGE);
}

static void too_many_fields_is_431(void **state)
{
	struct http_limits limits = {.head_max = 4096, .fields_max = 3, .body_max = 10};
	struct http_request r;
	const char *three = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
	const char *four = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	assert_int_equal(http_parse_request(three, strlen(three), &limits, &r), HTTP_PARSED);
	assert_int_equal(http_parse_request(four, strlen(four), &limits, &r),
			 HTTP_FIELDS_TOO_LARGE);
}

static void a_body_above_the_limit_is_413(void **state)
{
	struct http_limits limits = {.head_max = 4096, .fields_max = 8, .body_max = 10};
	struct http_request r;
	const char *ten = "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n";
	const char *eleven = "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n";
	assert_int_equal(http_parse_request(ten, strlen(ten), &limits, &r), HTTP_PARSED);
	assert_int_equal(http_parse_request(eleven, strlen(eleven), &limits, &r),
			 HTTP_CONTENT_TOO_LARGE);
}

static void statuses_have_reasons(void **state)
{
	assert_string_equal(http_reason(200), "OK");
	assert_string_equal(http_reason(HTTP_BAD_REQUEST), "Bad Request");
	assert_string_equal(http_reason(HTTP_CONTENT_TOO_LARGE), "Content Too Large");
	assert_string_equal(http_reason(HTTP_FIELDS_TOO_LARGE), "Request Header Fields Too Large");
	assert_string_equal(http_reason(HTTP_VERSION_UNSUPPORTED), "HTTP Version Not Supported");
	assert_string_equal(http_reason(299), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_get_parses),
		cmocka_unit_test(keep_alive_follows_version_and_connection),
		cmocka_unit_test(content_length_is_reported_for_skipping),
		cmocka_unit_test(values_may_hold_tabs_and_high_bytes),
		cmocka_unit_test(pipelined_requests_parse_one_after_another),
		cmocka_unit_test(every_prefix_is_incomplete),
		cmocka_unit_test(malformed_requests_get_their_status),
		cmocka_unit_test(garbage_is_refused_before_the_head_ends),
		cmocka_unit_test(a_nul_byte_is_refused),
		cmocka_unit_test(a_head_above_the_limit_is_431),
		cmocka_unit_test(too_many_fields_is_431),
		cmocka_unit_test(a_body_above_the_limit_is_413),
		cmocka_unit_test(statuses_have_reasons),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
