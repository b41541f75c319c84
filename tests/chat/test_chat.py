#!/usr/bin/env python3
"""test_chat.py: `mtask chat-server` and `mtask chat` on loopback.

Our server with several clients at once: raw sockets speaking exactly as
the notes' client does, the notes' own client (notes_client.py) and our
`mtask chat` with standard input from a pipe; every message must arrive
where it should and nowhere else; impersonation and malformed datagrams
are refused while the server keeps serving; a full room evicts only a
quiet user. Then our client against the notes' server (notes_server.py),
and in a pseudo-terminal (Ctrl-C, Ctrl-D, a message arriving while a line
is half typed).

Then our client losing its input while it chats: a terminal that hangs
up without a SIGHUP (it is not the client's controlling terminal), at
rest, in the middle of a flood of messages, and inside libedit's line
callback (send_gate.so holds the client there); standard input ending
while messages pour in. Each time the client must leave, say why on
stderr (a terminal) and exit within a bounded time. And our client asking
for its name in a terminal and editing UTF-8 there.

Every process is started in its own session and stopped by its PID (its
process group); every wait is bounded. Each is also registered in STARTED
and stopped again by main() on the way out (SIGTERM included), and starts
under `setpriv --pdeathsig KILL` when there is one, so that even a killed
test leaves nothing behind. Ports are picked by the kernel (port 0), never
8888.

usage: test_chat.py PATH/TO/mtask [TEST_NAME...]
environment: MTASK_SEND_GATE_LIB, the path of send_gate.so (built by CMake;
the test that needs it is skipped without it)
"""
import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

MTASK = os.path.abspath(sys.argv[1])
HERE = os.path.dirname(os.path.abspath(__file__))
WAIT = 10.0  # for something expected (sanitizer builds are slow)
QUIET = 0.3  # of silence, to show nothing else came
JOIN, LEAVE = '\n欢迎%s加入群聊', '\n%s 退出群聊'
STARTED = []  # every Proc and Terminal, for main() to stop at the end
SETPRIV = shutil.which('setpriv')


def orphan_proof(argv):
    """argv, killed by the kernel if this test process dies (setpriv)."""
    return [SETPRIV, '--pdeathsig', 'KILL', '--'] + argv if SETPRIV else argv


class Proc:
    """A child process with piped stdin and stdout, read by a thread."""

    def __init__(self, argv, **popen):
        """popen: stdin, stdout, env... instead of the defaults."""
        std = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        std.update(popen)
        self.p = subprocess.Popen(orphan_proof(argv), start_new_session=True, **std)
        STARTED.append(self)
        self.out, self.err = b'', b''
        self.cond = threading.Condition()
        self.readers = [threading.Thread(target=self._read, args=(f, n), daemon=True)
                        for f, n in ((self.p.stdout, 'out'), (self.p.stderr, 'err')) if f]
        for r in self.readers:
            r.start()

    def _read(self, f, attr):
        for chunk in iter(lambda: f.read1(4096), b''):
            with self.cond:
                setattr(self, attr, getattr(self, attr) + chunk)
                self.cond.notify_all()

    def write(self, text):
        self.p.stdin.write(text.encode())
        self.p.stdin.flush()

    def close_stdin(self):
        self.p.stdin.close()

    def wait_output(self, text, stream='out'):
        """Until stdout (or stream='err': stderr) holds text."""
        with self.cond:
            if not self.cond.wait_for(lambda: text.encode() in getattr(self, stream), WAIT):
                raise AssertionError('never printed %r; stdout %r stderr %r'
                                     % (text, self.out.decode(errors='replace'),
                                        self.err.decode(errors='replace')))

    def lines(self):
        return self.out.decode().splitlines()

    def wait_exit(self):
        code = self.p.wait(WAIT)
        for r in self.readers:
            r.join(WAIT)
        return code

    def stop(self):
        """SIGTERM to its process group, then SIGKILL if need be."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.p.poll() is not None:
                break
            try:
                os.killpg(self.p.pid, sig)
                self.p.wait(WAIT)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.p.pid, signal.SIGKILL)  # the notes' forked children
        except (ProcessLookupError, PermissionError):
            pass


class Raw:
    """A client speaking exactly as the notes' client: L, C, Q datagrams."""

    def __init__(self, port, name=None):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addr, self.name = ('127.0.0.1', port), name

    def send(self, data):
        self.s.sendto(data if isinstance(data, bytes) else data.encode(), self.addr)

    def login(self, name):
        self.name = name
        self.send('L ' + name)
        self.expect('OK')

    def say(self, text):
        self.send('C %s %s' % (self.name, text))

    def expect(self, *messages):
        """Exactly these datagrams, in this order, then silence."""
        got = []
        self.s.settimeout(WAIT)
        try:
            while len(got) < len(messages):
                got.append(self.s.recvfrom(2048)[0].decode())
        except socket.timeout:
            pass
        self.s.settimeout(QUIET)
        try:
            got.append(self.s.recvfrom(2048)[0].decode())
        except socket.timeout:
            pass
        assert got == list(messages), '%s got %r, not %r' % (self.name, got, list(messages))

    def close(self):
        self.s.close()


def start_server(*options):
    server = Proc([MTASK, 'chat-server', '--host', '127.0.0.1', '--port', '0'] + list(options))
    server.wait_output('listening on')
    port = int(server.lines()[0].split(':')[2].split()[0])
    return server, port


def stop_server(server):
    assert server.p.poll() is None, 'the server died: %r' % server.err
    os.kill(server.p.pid, signal.SIGTERM)
    assert server.wait_exit() == 0, server.err.decode()


def mtask_chat(port, *args):
    return Proc([MTASK, 'chat', '--port', str(port)] + list(args))


def notes_client(port, name):
    client = Proc([sys.executable, '-u', os.path.join(HERE, 'notes_client.py'),
                   '127.0.0.1', str(port)])
    client.write(name + '\n')
    client.wait_output('已进入聊天室')
    return client


# ---- our server ----

def test_every_message_arrives_where_it_should_and_nowhere_else():
    server, port = start_server()
    procs = [server]
    try:
        alice, bob = Raw(port), Raw(port)
        alice.login('alice')
        bob.login('bob')
        alice.expect(JOIN % 'bob')
        carol = mtask_chat(port, 'carol')
        procs.append(carol)
        carol.wait_output('已进入聊天室')
        alice.expect(JOIN % 'carol')
        bob.expect(JOIN % 'carol')
        dave = notes_client(port, 'dave')
        procs.append(dave)
        for raw in (alice, bob):
            raw.expect(JOIN % 'dave')
        carol.wait_output('欢迎dave加入群聊')

        alice.say('hello 大家')
        bob.expect('alice:hello 大家')
        carol.wait_output('alice:hello 大家')
        dave.wait_output('alice:hello 大家')
        alice.expect()
        carol.write('hi from carol\n')
        alice.expect('carol:hi from carol')
        bob.expect('carol:hi from carol')
        dave.wait_output('carol:hi from carol')
        dave.write('你好\n')
        alice.expect('dave:你好')
        bob.expect('dave:你好')
        carol.wait_output('dave:你好')
        server.write('关门了\n')
        for raw in (alice, bob):
            raw.expect('管理员:关门了')
        carol.wait_output('管理员:关门了')
        dave.wait_output('管理员:关门了')

        carol.write('quit\n')
        assert carol.wait_exit() == 0
        for raw in (alice, bob):
            raw.expect(LEAVE % 'carol')
        dave.wait_output('carol 退出群聊')
        dave.write('quit\n')
        dave.wait_exit()
        for raw in (alice, bob):
            raw.expect(LEAVE % 'dave')
        assert carol.lines() == ['已进入聊天室', '欢迎dave加入群聊', 'alice:hello 大家',
                                 'dave:你好', '管理员:关门了', '退出聊天室'], carol.lines()
        assert 'dave:你好' not in dave.out.decode()
        stop_server(server)
    finally:
        for p in procs:
            p.stop()


def test_impersonation_and_malformed_datagrams_are_refused():
    server, port = start_server()
    try:
        alice, bob, eve = Raw(port, 'alice'), Raw(port, 'bob'), Raw(port, 'eve')
        alice.login('alice')
        bob.login('bob')
        alice.expect(JOIN % 'bob')
        not_yours = '\nerror: that name is not yours'
        for sender, data in ((eve, 'C alice I am alice'), (bob, 'C alice I am alice'),
                             (bob, 'Q alice'), (eve, 'Q bob'), (eve, 'C 管理员 fake')):
            sender.send(data)
            sender.expect(not_yours)
        refusals = [
            (b'', '\nerror: not a request (L name | C name text | Q name)'),
            (b'L', '\nerror: not a request (L name | C name text | Q name)'),
            (b'C eve', '\nerror: not a request (L name | C name text | Q name)'),
            (b'X eve', '\nerror: unknown command (L name | C name text | Q name)'),
            (b'L ', '\nerror: empty name'),
            (b'L eve smith', '\nerror: a name may not hold a space'),
            (b'L e\x1bve', '\nerror: name holds a control character'),
            (b'L ' + b'n' * 65, '\nerror: name longer than 64 bytes'),
            (b'L \xff\xfe', '\nerror: not UTF-8'),
            (b'C bob ' + b'x' * 2000, '\nerror: datagram longer than 1024 bytes'),
            (b'L bob', '\n用户名存在'),
            ('L 管理员'.encode(), '\n用户名存在'),
            ('L 大管理员'.encode(), '\n用户名存在'),
        ]
        for data, reply in refusals:
            eve.send(data)
            eve.expect(reply)
        bob.send('C bob x\x1b[2J')
        bob.expect('\nerror: text holds a control character')
        bob.send('L bob')  # again from the same address: OK again, no notice
        bob.expect('OK')
        bob.send('L robert')
        bob.expect('\nerror: this address is in the room under another name')
        alice.expect()  # none of it reached alice
        bob.say('still serving')
        alice.expect('bob:still serving')
        eve.login('eve')
        alice.expect(JOIN % 'eve')
        bob.expect(JOIN % 'eve')
        eve.send('Q eve')
        eve.expect('EXIT')
        alice.expect(LEAVE % 'eve')
        bob.expect(LEAVE % 'eve')
        stop_server(server)
    finally:
        server.stop()


def test_a_full_room_evicts_only_a_quiet_user():
    server, port = start_server('--max-users', '2', '--idle', '2')
    try:
        alice, bob, carol = Raw(port, 'alice'), Raw(port, 'bob'), Raw(port, 'carol')
        alice.login('alice')
        bob.login('bob')
        alice.expect(JOIN % 'bob')
        carol.send('L carol')
        carol.expect('\nerror: the room is full')
        time.sleep(1.0)
        bob.say('here')  # alice is now the quietest
        alice.expect('bob:here')
        time.sleep(1.2)  # alice quiet 2.2 s, bob 1.2 s
        carol.login('carol')
        alice.expect('EXIT')
        bob.expect(LEAVE % 'alice', JOIN % 'carol')
        stop_server(server)
    finally:
        server.stop()


def test_our_client_leaves_at_end_of_input_and_on_sigint():
    server, port = start_server()
    try:
        alice = Raw(port)
        alice.login('alice')
        bob = mtask_chat(port, 'bob')
        bob.wait_output('已进入聊天室')
        alice.expect(JOIN % 'bob')
        bob.close_stdin()
        assert bob.wait_exit() == 0
        alice.expect(LEAVE % 'bob')
        carol = mtask_chat(port, 'carol')
        carol.wait_output('已进入聊天室')
        alice.expect(JOIN % 'carol')
        os.kill(carol.p.pid, signal.SIGINT)
        assert carol.wait_exit() == 0
        alice.expect(LEAVE % 'carol')
        stop_server(server)
    finally:
        server.stop()


# ---- our client with the notes' server ----

def test_our_client_with_the_notes_server():
    server = Proc([sys.executable, '-u', os.path.join(HERE, 'notes_server.py'),
                   '127.0.0.1', '0'])
    bob = None
    try:
        server.wait_output('\n')
        port = int(server.lines()[0])
        alice = Raw(port)
        alice.login('alice')
        bob = mtask_chat(port, 'alice')  # taken: then the next name typed
        bob.wait_output('用户名存在')
        bob.write('bob\n')
        bob.wait_output('已进入聊天室')
        alice.expect(JOIN % 'bob')
        bob.write('hello alice\n')
        alice.expect('bob:hello alice')
        alice.say('hi bob')
        bob.wait_output('alice:hi bob')
        server.write('公告\n')
        alice.expect('管理员:公告')
        bob.wait_output('管理员:公告')
        bob.write('quit\n')
        assert bob.wait_exit() == 0
        alice.expect(LEAVE % 'bob')
        assert bob.lines() == ['用户名存在', '已进入聊天室', 'alice:hi bob', '管理员:公告',
                               '退出聊天室'], bob.lines()
    finally:
        if bob:
            bob.stop()
        server.stop()


# ---- our client in a terminal ----

class Terminal:
    """`mtask chat` in a pseudo-terminal. By default the terminal is its
    controlling terminal (pty.fork), as in a user's shell. controlling=False
    gives it only as standard input and output, stderr a pipe (self.proc
    reads it), in a session of its own: a client whose shell died, which
    gets no SIGHUP when the terminal hangs up."""

    def __init__(self, port, name=None, controlling=True, env=None, pass_fds=()):
        argv = [MTASK, 'chat', '--port', str(port)] + ([name] if name else [])
        env = dict(env or os.environ, TERM='xterm')
        self.proc = None
        if controlling:
            self.pid, self.fd = pty.fork()
            if self.pid == 0:
                argv = orphan_proof(argv)
                os.execve(argv[0], argv, env)
        else:
            self.fd, slave = os.openpty()
            self.proc = Proc(argv, stdin=slave, stdout=slave, env=env, pass_fds=pass_fds)
            os.close(slave)
            self.pid = self.proc.p.pid
        os.set_inheritable(self.fd, False)  # no later child may hold it up
        STARTED.append(self)
        self.out = b''

    def _pump(self, seconds):
        if self.fd < 0 or not select.select([self.fd], [], [], seconds)[0]:
            return
        try:
            self.out += os.read(self.fd, 4096)
        except OSError:  # EIO: the client closed the terminal
            time.sleep(seconds)

    def read_until(self, text):
        end = time.monotonic() + WAIT
        while text.encode() not in self.out and time.monotonic() < end:
            self._pump(0.05)
        assert text.encode() in self.out, 'terminal never showed %r: %r' % (text, self.out)

    def type(self, keys):
        os.write(self.fd, keys)

    def hang_up(self):
        """Closes the terminal's master side, as a dying terminal does."""
        os.close(self.fd)
        self.fd = -1

    def _reap(self):
        if self.proc:
            return self.proc.p.poll()
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if not pid:
            return None
        self.pid = 0
        return os.waitstatus_to_exitcode(status)

    def _drain(self):
        """Reads what the ended client wrote last: the terminal holds it
        after the process is gone, and a reap can win the race with the
        reads above (a loaded machine: about one run in two)."""
        while self.fd >= 0 and select.select([self.fd], [], [], 0)[0]:
            try:
                data = os.read(self.fd, 4096)
            except OSError:  # EIO: all of it read, the client's side closed
                return
            if not data:
                return
            self.out += data

    def wait_exit(self):
        end = time.monotonic() + WAIT
        while time.monotonic() < end:
            code = self._reap()
            if code is not None:
                self._drain()
                return code
            self._pump(0.05)
        raise AssertionError('the terminal client did not exit: %r' % self.out)

    def stop(self):
        if self.proc:
            self.proc.stop()
        elif self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = 0
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def test_a_message_never_garbles_the_line_being_typed():
    server, port = start_server()
    term = None
    try:
        alice = Raw(port)
        alice.login('alice')
        term = Terminal(port, 'bob')
        term.read_until('>>')
        alice.expect(JOIN % 'bob')
        term.type(b'hal')
        term.read_until('hal')
        alice.say('你好 bob')
        # the row cleared, the message on it, the prompt and 'hal' again
        term.read_until('\r\x1b[Kalice:你好 bob\r\n>>hal')
        term.type(b'\x7flo\r')  # backspace works: hal -> halo
        alice.expect('bob:halo')
        term.type(b'\x1b[A\r')  # the history: halo again
        alice.expect('bob:halo')
        term.type(b'\x04')  # Ctrl-D leaves
        assert term.wait_exit() == 0
        alice.expect(LEAVE % 'bob')
        term.stop()
        term = Terminal(port, 'carol')
        term.read_until('>>')
        alice.expect(JOIN % 'carol')
        term.type(b'typing\x03')  # Ctrl-C leaves
        assert term.wait_exit() == 0
        alice.expect(LEAVE % 'carol')
        assert '退出聊天室' in term.out.decode(errors='replace')
        stop_server(server)
    finally:
        if term:
            term.stop()
        server.stop()


# ---- our client losing its input ----

class Flood:
    """A user saying one line after another, from a thread, until stop()."""

    def __init__(self, raw):
        self.raw, self.stopping = raw, threading.Event()
        self.thread = threading.Thread(target=self._say, daemon=True)
        self.thread.start()

    def _say(self):
        n = 0
        while not self.stopping.wait(0.002):
            self.raw.say('flood %d' % n)
            n += 1

    def stop(self):
        self.stopping.set()
        self.thread.join(WAIT)


def leaves_during_a_flood(alice, client, name, wait_shown, cut_input):
    """client, in the room as name, loses its input (cut_input()) while
    alice floods the room; it must leave, and alice hear of it."""
    flood = Flood(alice)
    try:
        wait_shown('alice:flood')
        cut_input()
        assert client.wait_exit() == 0
    finally:
        flood.stop()
    alice.expect(LEAVE % name)


def test_our_client_leaves_when_its_input_goes_away():
    """A terminal that is not the client's controlling one (as when the
    shell that started it was killed) hangs up: no SIGHUP comes. At rest at
    the prompt, then while messages pour in, the client must leave and say
    why. Then standard input (a pipe) ends while messages pour in."""
    server, port = start_server()
    clients = []
    try:
        alice = Raw(port)
        alice.login('alice')
        bob = Terminal(port, 'bob', controlling=False)
        clients.append(bob)
        bob.read_until('>>')
        alice.expect(JOIN % 'bob')
        bob.hang_up()
        assert bob.wait_exit() == 0
        alice.expect(LEAVE % 'bob')
        bob.proc.wait_output('mtask chat: the terminal hung up: leaving the room', 'err')

        carol = Terminal(port, 'carol', controlling=False)
        clients.append(carol)
        carol.read_until('>>')
        alice.expect(JOIN % 'carol')
        leaves_during_a_flood(alice, carol, 'carol', carol.read_until, carol.hang_up)

        dave = mtask_chat(port, 'dave')
        clients.append(dave)
        dave.wait_output('已进入聊天室')
        alice.expect(JOIN % 'dave')
        leaves_during_a_flood(alice, dave, 'dave', dave.wait_output, dave.close_stdin)
        stop_server(server)
    finally:
        for c in clients:
            c.stop()
        server.stop()


def test_our_client_leaves_when_its_terminal_hangs_up_inside_a_line():
    """libedit puts the terminal in cooked mode around its line callback
    and then fails to make it raw again on a dead terminal, after which it
    returns without reading: the client used to spin there for ever, at
    full CPU. send_gate.so holds it inside that callback (in send) while
    the terminal hangs up."""
    lib = os.environ.get('MTASK_SEND_GATE_LIB')
    if not lib:
        print('skip test_our_client_leaves_when_its_terminal_hangs_up_inside_a_line: '
              'no MTASK_SEND_GATE_LIB', flush=True)
        return
    server, port = start_server()
    go_r, go_w = os.pipe()
    held_r, held_w = os.pipe()
    bob = None
    try:
        alice = Raw(port)
        alice.login('alice')
        env = dict(os.environ, LD_PRELOAD=lib, MTASK_SEND_GATE='%d %d' % (go_r, held_w),
                   ASAN_OPTIONS=os.environ.get('ASAN_OPTIONS', '') + ':verify_asan_link_order=0')
        bob = Terminal(port, 'bob', controlling=False, env=env, pass_fds=(go_r, held_w))
        os.close(go_r)
        os.close(held_w)
        bob.read_until('>>')
        alice.expect(JOIN % 'bob')
        bob.type(b'hello\r')
        assert select.select([held_r], [], [], WAIT)[0], 'the client never sent its line'
        assert os.read(held_r, 1) == b'h'
        bob.hang_up()  # while the client is in the line's callback
        os.write(go_w, b'g')
        alice.expect('bob:hello', LEAVE % 'bob')
        assert bob.wait_exit() == 0
        bob.proc.wait_output('leaving the room', 'err')
        stop_server(server)
    finally:
        for fd in (go_w, held_r):
            os.close(fd)
        if bob:
            bob.stop()
        server.stop()


def test_our_client_asks_a_name_and_edits_utf8_lines_in_a_terminal():
    """No NAME: the notes' prompt (libedit used to crash on it in the C
    locale). Chinese typed key by key arrives whole; while a second line is
    typed, messages still show and Ctrl-C still leaves (libedit used to
    read every line after the first in one blocking call)."""
    server, port = start_server()
    term = None
    try:
        alice = Raw(port)
        alice.login('alice')
        term = Terminal(port)
        term.read_until('输入你的ID:')
        term.type(b'bob\r')
        term.read_until('>>')
        alice.expect(JOIN % 'bob')
        term.type('你好\r'.encode())
        alice.expect('bob:你好')
        term.type(b'x')
        term.read_until('>>x')
        alice.say('still there?')
        term.read_until('alice:still there?')
        term.type(b'\x03')
        assert term.wait_exit() == 0
        alice.expect(LEAVE % 'bob')
        stop_server(server)
    finally:
        if term:
            term.stop()
        server.stop()


def main():
    tests = [(name, f) for name, f in globals().items() if name.startswith('test_')]
    only = sys.argv[2:]
    failed = 0
    signal.signal(signal.SIGTERM, lambda signo, frame: sys.exit(128 + signo))
    try:
        for name, f in tests:
            if only and name not in only:
                continue
            start = time.monotonic()
            try:
                f()
                print('ok   %-64s %.2f s' % (name, time.monotonic() - start), flush=True)
            except Exception as e:  # report every test, then fail
                failed += 1
                print('FAIL %s: %s: %s' % (name, type(e).__name__, e), flush=True)
    finally:  # each test stops what it started; this catches what it missed
        for started in STARTED:
            started.stop()
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
