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

Every process is started in its own session and stopped by its PID (its
process group); every wait is bounded. Ports are picked by the kernel
(port 0), never 8888.

usage: test_chat.py PATH/TO/mtask
"""
import os
import pty
import select
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


class Proc:
    """A child process with piped stdin and stdout, read by a thread."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, start_new_session=True)
        self.out, self.err = b'', b''
        self.cond = threading.Condition()
        self.readers = [threading.Thread(target=self._read, args=(f, n), daemon=True)
                        for f, n in ((self.p.stdout, 'out'), (self.p.stderr, 'err'))]
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

    def wait_output(self, text):
        with self.cond:
            if not self.cond.wait_for(lambda: text.encode() in self.out, WAIT):
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
    """`mtask chat` in a pseudo-terminal."""

    def __init__(self, port, name):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ['TERM'] = 'xterm'
            os.execv(MTASK, [MTASK, 'chat', '--port', str(port), name])
        self.out = b''

    def read_until(self, text):
        end = time.monotonic() + WAIT
        while text.encode() not in self.out and time.monotonic() < end:
            if select.select([self.fd], [], [], 0.05)[0]:
                try:
                    self.out += os.read(self.fd, 4096)
                except OSError:
                    break
        assert text.encode() in self.out, 'terminal never showed %r: %r' % (text, self.out)

    def type(self, keys):
        os.write(self.fd, keys)

    def wait_exit(self):
        end = time.monotonic() + WAIT
        while time.monotonic() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = 0
                return os.waitstatus_to_exitcode(status)
            if select.select([self.fd], [], [], 0.05)[0]:
                try:
                    self.out += os.read(self.fd, 4096)
                except OSError:
                    pass
        raise AssertionError('the terminal client did not exit: %r' % self.out)

    def stop(self):
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


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


def main():
    tests = [(name, f) for name, f in globals().items() if name.startswith('test_')]
    only = sys.argv[2:]
    failed = 0
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
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
