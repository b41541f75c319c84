/* test_chat_proto.c: the chat room's protocol and rules without sockets:
 * the parser on good and bad datagrams, names holding 管理员, UTF-8, the
 * 1024-byte limit, the notes' exact replies, and the room's routing: who
 * gets what, impersonation refused, one name per address, the bounded
 * table, the admin's own address. */
#include <arpa/inet.h>

#include "chat_proto.h"
#include "chat_room.h"
#include "testutil.h"

static enum chat_error parse(const char *s, struct chat_request *req)
{
	return chat_parse(s, strlen(s), req);
}

static void assert_field(const char *field, size_t len, const char *want)
{
	assert_int_equal(len, strlen(want));
	assert_memory_equal(field, want, len);
}

/* ---- the parser ---- */

static void the_three_requests_parse(void **state)
{
	struct chat_request r;
	assert_int_equal(parse("L bob", &r), CHAT_OK);
	assert_int_equal(r.kind, CHAT_LOGIN);
	assert_field(r.name, r.name_len, "bob");
	assert_int_equal(parse("C 小明 你好 世界", &r), CHAT_OK);
	assert_int_equal(r.kind, CHAT_SAY);
	assert_field(r.name, r.name_len, "小明");
	assert_field(r.text, r.text_len, "你好 世界"); /* split(' ', 2): spaces stay */
	assert_int_equal(parse("Q bob", &r), CHAT_OK);
	assert_int_equal(r.kind, CHAT_QUIT);
	assert_field(r.name, r.name_len, "bob");
}

/* The notes' client sends 'C name ' for an empty line: an empty text. */
static void an_empty_text_and_a_tab_are_allowed(void **state)
{
	struct chat_request r;
	assert_int_equal(parse("C bob ", &r), CHAT_OK);
	assert_int_equal(r.text_len, 0);
	assert_int_equal(parse("C bob a\tb", &r), CHAT_OK);
}

static void malformed_requests_get_their_error(void **state)
{
	static const struct {
		const char *datagram;
		enum chat_error error;
	} cases[] = {
		{"", CHAT_ERR_FORM},
		{"L", CHAT_ERR_FORM},
		{"Lbob", CHAT_ERR_FORM},
		{"C bob", CHAT_ERR_FORM},
		{"X bob", CHAT_ERR_COMMAND},
		{"l bob", CHAT_ERR_COMMAND},
		{"L ", CHAT_ERR_EMPTY_NAME},
		{"C  text", CHAT_ERR_EMPTY_NAME},
		{"Q ", CHAT_ERR_EMPTY_NAME},
		{"L bob smith", CHAT_ERR_EXTRA},
		{"Q bob ", CHAT_ERR_EXTRA},
		{"L bo\x01z", CHAT_ERR_NAME_CHARS},
		{"L bob\n", CHAT_ERR_NAME_CHARS},
		{"L \xc2\x9bz", CHAT_ERR_NAME_CHARS}, /* C1 CSI */
		{"C bob \x1b[2J", CHAT_ERR_TEXT_CHARS},
		{"C bob a\rb", CHAT_ERR_TEXT_CHARS},
		{"C bob \x7f", CHAT_ERR_TEXT_CHARS},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct chat_request r;
		if (parse(cases[i].datagram, &r) != cases[i].error)
			fail_msg("'%s': %d, not %d", cases[i].datagram,
				 parse(cases[i].datagram, &r), cases[i].error);
	}
}

static void a_nul_byte_is_a_control_character(void **state)
{
	struct chat_request r;
	assert_int_equal(chat_parse("L a\0b", 5, &r), CHAT_ERR_NAME_CHARS);
	assert_int_equal(chat_parse("C a x\0", 6, &r), CHAT_ERR_TEXT_CHARS);
}

static void names_are_at_most_64_bytes(void **state)
{
	char datagram[80] = "L ";
	memset(datagram + 2, 'n', 64);
	struct chat_request r;
	assert_int_equal(parse(datagram, &r), CHAT_OK);
	datagram[2 + 64] = 'n';
	assert_int_equal(parse(datagram, &r), CHAT_ERR_NAME_LONG);
}

static void datagrams_are_at_most_1024_bytes(void **state)
{
	char datagram[CHAT_DATAGRAM_MAX + 2];
	memset(datagram, 'x', sizeof datagram);
	memcpy(datagram, "C bob ", 6);
	struct chat_request r;
	assert_int_equal(chat_parse(datagram, CHAT_DATAGRAM_MAX, &r), CHAT_OK);
	assert_int_equal(r.text_len, CHAT_DATAGRAM_MAX - 6);
	assert_int_equal(chat_parse(datagram, CHAT_DATAGRAM_MAX + 1, &r), CHAT_ERR_TOO_LONG);
}

static void utf8_is_checked_strictly(void **state)
{
	assert_true(chat_utf8_valid("管理员 ok \xf0\x9f\x98\x80", 18));
	assert_true(chat_utf8_valid("", 0));
	static const char *const bad[] = {
		"\xff",		    /* never in UTF-8 */
		"\x80",		    /* a lone continuation */
		"\xc0\x80",	    /* overlong NUL */
		"\xe0\x80\xaf",	    /* overlong '/' */
		"\xed\xa0\x80",	    /* a surrogate */
		"\xf4\x90\x80\x80", /* above U+10FFFF */
		"\xe4\xbd",	    /* cut short */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_false(chat_utf8_valid(bad[i], strlen(bad[i])));
	struct chat_request r;
	assert_int_equal(parse("C bob \xe4\xbd", &r), CHAT_ERR_UTF8);
}

static void names_holding_the_admin_are_reserved(void **state)
{
	assert_true(chat_name_reserved("管理员", strlen("管理员")));
	assert_true(chat_name_reserved("大管理员2", strlen("大管理员2")));
	assert_false(chat_name_reserved("管理", strlen("管理")));
	assert_false(chat_name_reserved("bob", 3));
}

/* ---- the formatters: the notes' exact bytes ---- */

static void messages_have_the_notes_bytes(void **state)
{
	char buf[CHAT_DATAGRAM_MAX + 1];
	assert_int_equal(chat_format_login(buf, sizeof buf, "小明"), 2 + 6);
	assert_string_equal(buf, "L 小明");
	assert_true(chat_format_say(buf, sizeof buf, "bob", "hi there") > 0);
	assert_string_equal(buf, "C bob hi there");
	assert_true(chat_format_quit(buf, sizeof buf, "bob") > 0);
	assert_string_equal(buf, "Q bob");
	struct chat_request r;
	assert_int_equal(parse("C bob hi there", &r), CHAT_OK);
	assert_true(chat_format_relay(buf, sizeof buf, &r) > 0);
	assert_string_equal(buf, "bob:hi there");
	assert_true(chat_format_join_notice(buf, sizeof buf, "bob", 3) > 0);
	assert_string_equal(buf, "\n欢迎bob加入群聊");
	assert_true(chat_format_leave_notice(buf, sizeof buf, "bob", 3) > 0);
	assert_string_equal(buf, "\nbob 退出群聊");
	assert_string_equal(chat_error_reply(CHAT_ERR_NAME_TAKEN), "\n用户名存在");
	assert_string_equal(CHAT_REPLY_OK, "OK");
	assert_string_equal(CHAT_REPLY_EXIT, "EXIT");
}

static void a_message_that_does_not_fit_is_refused(void **state)
{
	char small[8], text[CHAT_DATAGRAM_MAX];
	assert_int_equal(chat_format_say(small, sizeof small, "bob", "hello"), -1);
	memset(text, 'x', sizeof text - 1);
	text[sizeof text - 1] = '\0';
	char buf[2 * CHAT_DATAGRAM_MAX];
	assert_int_equal(chat_format_say(buf, sizeof buf, "bob", text), -1); /* > 1024 */
}

static void every_error_has_a_reply(void **state)
{
	for (int e = 1; e < CHAT_ERR_COUNT; e++) {
		const char *reply = chat_error_reply((enum chat_error)e);
		assert_true(reply[0] == '\n' && strlen(reply) > 1);
		assert_true(chat_utf8_valid(reply, strlen(reply)));
		const char *reason = chat_error_reason((enum chat_error)e);
		assert_true(reason[0] != '\n' && strncmp(reason, "error", 5));
	}
}

static void display_is_safe_for_a_terminal(void **state)
{
	char out[64];
	assert_int_equal(chat_display(out, sizeof out, "\n欢迎bob加入群聊", 22), 21);
	assert_string_equal(out, "欢迎bob加入群聊");
	chat_display(out, sizeof out, "a\x1b[2Jb\rc\td\xff", 11);
	assert_string_equal(out, "a?[2Jb?c\td?");
	chat_display(out, 4, "abcdef", 6);
	assert_string_equal(out, "abc");
	chat_display(out, 5, "ab管", 5); /* a character is never cut in two */
	assert_string_equal(out, "ab");
}

/* ---- the room ---- */

#define SENT_MAX 64

struct sent {
	int port;
	char msg[CHAT_DATAGRAM_MAX + 1];
};

static struct sent sent[SENT_MAX];
static int sent_count;

static void record(void *ctx, const struct sockaddr_in *to, const char *msg, size_t len)
{
	assert_true(sent_count < SENT_MAX);
	sent[sent_count].port = ntohs(to->sin_port);
	memcpy(sent[sent_count].msg, msg, len);
	sent[sent_count++].msg[len] = '\0';
}

static struct sockaddr_in addr(int port)
{
	return (struct sockaddr_in){.sin_family = AF_INET,
				    .sin_port = htons((uint16_t)port),
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
}

#define ADMIN_PORT 8888

static struct chat_room room;

static int room_setup(void **state)
{
	struct chat_room_config config = {
		.max_users = 3, .idle_seconds = 60, .admin = addr(ADMIN_PORT)};
	sent_count = 0;
	return chat_room_init(&room, &config, record, NULL);
}

static int room_teardown(void **state)
{
	chat_room_free(&room);
	return 0;
}

/* Port `port` sends s at time now; returns the error; sent[] is reset. */
static enum chat_error from_at(int port, const char *s, double now)
{
	struct sockaddr_in a = addr(port);
	struct chat_event event;
	sent_count = 0;
	chat_room_handle(&room, &a, s, strlen(s), now, &event);
	return event.error;
}

static enum chat_error from(int port, const char *s)
{
	return from_at(port, s, 0);
}

/* Exactly these messages went out, in any order: "port:msg" each. */
static void assert_sent(int count, ...)
{
	va_list ap;
	va_start(ap, count);
	assert_int_equal(sent_count, count);
	bool matched[SENT_MAX] = {false};
	for (int i = 0; i < count; i++) {
		int port = va_arg(ap, int);
		const char *msg = va_arg(ap, const char *);
		int k = 0;
		while (k < sent_count &&
		       (matched[k] || sent[k].port != port || strcmp(sent[k].msg, msg)))
			k++;
		if (k == sent_count)
			fail_msg("not sent to %d: '%s'", port, msg);
		matched[k] = true;
	}
	va_end(ap);
}

/* alice on 1001, bob on 1002, carol on 1003. */
static void three_users(void)
{
	assert_int_equal(from(1001, "L alice"), CHAT_OK);
	assert_sent(1, 1001, "OK");
	assert_int_equal(from(1002, "L bob"), CHAT_OK);
	assert_sent(2, 1002, "OK", 1001, "\n欢迎bob加入群聊");
	assert_int_equal(from(1003, "L carol"), CHAT_OK);
	assert_sent(3, 1003, "OK", 1001, "\n欢迎carol加入群聊", 1002, "\n欢迎carol加入群聊");
}

static void a_message_goes_to_everyone_else(void **state)
{
	three_users();
	assert_int_equal(from(1002, "C bob hi all"), CHAT_OK);
	assert_sent(2, 1001, "bob:hi all", 1003, "bob:hi all");
}

static void a_taken_or_admin_name_is_refused_as_the_notes_do(void **state)
{
	three_users();
	assert_int_equal(from(1004, "L bob"), CHAT_ERR_NAME_TAKEN);
	assert_sent(1, 1004, "\n用户名存在");
	assert_int_equal(from(1004, "L 管理员"), CHAT_ERR_NAME_TAKEN);
	assert_sent(1, 1004, "\n用户名存在");
	assert_int_equal(from(1004, "L 副管理员"), CHAT_ERR_NAME_TAKEN);
	assert_int_equal(room.count, 3);
}

static void quit_says_exit_to_the_leaver_and_tells_the_others(void **state)
{
	three_users();
	assert_int_equal(from(1001, "Q alice"), CHAT_OK);
	assert_sent(3, 1001, "EXIT", 1002, "\nalice 退出群聊", 1003, "\nalice 退出群聊");
	assert_null(chat_room_find(&room, "alice", 5));
	assert_int_equal(from(1002, "C bob still here"), CHAT_OK);
	assert_sent(1, 1003, "bob:still here");
}

static void impersonation_is_refused_and_changes_nothing(void **state)
{
	three_users();
	assert_int_equal(from(1002, "C alice I am alice"), CHAT_ERR_NOT_YOURS);
	assert_sent(1, 1002, chat_error_reply(CHAT_ERR_NOT_YOURS));
	assert_int_equal(from(1002, "Q alice"), CHAT_ERR_NOT_YOURS);
	assert_sent(1, 1002, chat_error_reply(CHAT_ERR_NOT_YOURS));
	assert_int_equal(from(1009, "C bob from a stranger"), CHAT_ERR_NOT_YOURS);
	assert_sent(1, 1009, chat_error_reply(CHAT_ERR_NOT_YOURS));
	assert_non_null(chat_room_find(&room, "alice", 5));
	assert_int_equal(room.count, 3);
}

static void an_address_holds_one_name(void **state)
{
	three_users();
	assert_int_equal(from(1002, "L bob"), CHAT_OK); /* the OK was lost: again */
	assert_sent(1, 1002, "OK");
	assert_int_equal(from(1002, "L robert"), CHAT_ERR_ALREADY_IN);
	assert_sent(1, 1002, chat_error_reply(CHAT_ERR_ALREADY_IN));
	assert_null(chat_room_find(&room, "robert", 6));
	assert_int_equal(room.count, 3);
}

static void a_full_room_evicts_only_a_quiet_user(void **state)
{
	assert_int_equal(from_at(1001, "L alice", 0), CHAT_OK);
	assert_int_equal(from_at(1002, "L bob", 10), CHAT_OK);
	assert_int_equal(from_at(1003, "L carol", 20), CHAT_OK);
	assert_int_equal(from_at(1001, "C alice still here", 30), CHAT_OK);
	assert_int_equal(from_at(1004, "L dave", 65), CHAT_ERR_FULL); /* bob: 55 s */
	assert_sent(1, 1004, chat_error_reply(CHAT_ERR_FULL));
	assert_int_equal(from_at(1004, "L dave", 70), CHAT_OK); /* bob: 60 s */
	assert_sent(6, 1002, "EXIT", 1001, "\nbob 退出群聊", 1003, "\nbob 退出群聊", 1004, "OK",
		    1001, "\n欢迎dave加入群聊", 1003, "\n欢迎dave加入群聊");
	assert_null(chat_room_find(&room, "bob", 3));
	assert_int_equal(room.count, 3);
}

static void the_admin_speaks_only_from_the_servers_address(void **state)
{
	three_users();
	assert_int_equal(from(ADMIN_PORT, "C 管理员 关门了"), CHAT_OK);
	assert_sent(3, 1001, "管理员:关门了", 1002, "管理员:关门了", 1003, "管理员:关门了");
	assert_int_equal(from(1002, "C 管理员 fake"), CHAT_ERR_NOT_YOURS);
	assert_sent(1, 1002, chat_error_reply(CHAT_ERR_NOT_YOURS));
	/* Nothing is ever sent back to the server's own address. */
	assert_int_equal(from(ADMIN_PORT, "\nerror: not UTF-8"), CHAT_ERR_FORM);
	assert_sent(0);
	assert_int_equal(from(ADMIN_PORT, "L 管理员"), CHAT_ERR_NOT_YOURS);
	assert_sent(0);
}

static void malformed_datagrams_change_nothing(void **state)
{
	three_users();
	static const char *const bad[] = {
		"", "L", "Z alice", "L ", "C alice", "Q alice extra", "C bob \x1b", "L \xff"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_not_equal(from(1001, bad[i]), CHAT_OK);
		assert_int_equal(sent_count, 1);
		assert_int_equal(sent[0].port, 1001);
		assert_string_equal(sent[0].msg, chat_error_reply(from(1001, bad[i])));
	}
	assert_int_equal(room.count, 3);
	assert_int_equal(from(1001, "C alice fine"), CHAT_OK);
	assert_sent(2, 1002, "alice:fine", 1003, "alice:fine");
}

#define ROOM_TEST(f) cmocka_unit_test_setup_teardown(f, room_setup, room_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_three_requests_parse),
		cmocka_unit_test(an_empty_text_and_a_tab_are_allowed),
		cmocka_unit_test(malformed_requests_get_their_error),
		cmocka_unit_test(a_nul_byte_is_a_control_character),
		cmocka_unit_test(names_are_at_most_64_bytes),
		cmocka_unit_test(datagrams_are_at_most_1024_bytes),
		cmocka_unit_test(utf8_is_checked_strictly),
		cmocka_unit_test(names_holding_the_admin_are_reserved),
		cmocka_unit_test(messages_have_the_notes_bytes),
		cmocka_unit_test(a_message_that_does_not_fit_is_refused),
		cmocka_unit_test(every_error_has_a_reply),
		cmocka_unit_test(display_is_safe_for_a_terminal),
		ROOM_TEST(a_message_goes_to_everyone_else),
		ROOM_TEST(a_taken_or_admin_name_is_refused_as_the_notes_do),
		ROOM_TEST(quit_says_exit_to_the_leaver_and_tells_the_others),
		ROOM_TEST(impersonation_is_refused_and_changes_nothing),
		ROOM_TEST(an_address_holds_one_name),
		ROOM_TEST(a_full_room_evicts_only_a_quiet_user),
		ROOM_TEST(the_admin_speaks_only_from_the_servers_address),
		ROOM_TEST(malformed_datagrams_change_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
