#!/usr/bin/env python3
"""test_serve.py: `mtask serve` on loopback, every model with both protocols.

For each model (fork, thread, pool, coro with two hubs) a server runs on a
port the kernel picks and is checked with raw sockets:
  echo: several concurrent clients, several round trips each;
  http: keep-alive, pipelined requests answered in order (a HEAD in the
  middle tells the answers apart, a POST body is skipped), a request split
  into one-byte writes, Connection: close and HTTP/1.0 honoured, 400, 431
  and 505 answered and the connection closed while the server keeps
  serving, a client dribbling a head slower than --timeout dropped, many
  idle connections held while others are served;
then SIGTERM: the server exits 0 within a bounded time, with a client
still connected, and (fork) leaves no child behind.

Each server runs in its own session and is stopped by its PID; every wait
is bounded.

usage: test_serve.py PATH/TO/mtask
"""
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

MTASK = os.path.abspath(sys.argv[1])
WAIT = 20.0     # for something expected (sanitizer builds are slow)
TIMEOUT = 1.5   # the servers' --timeout
HELLO = b'Hello, world!\n'


class Server:
    def __init__(self, model, proto, workers=None):
        argv = [MTASK, 'serve', '--model', model, '--proto', proto, '--port', '0',
                '--timeout', str(TIMEOUT)]
        if workers:
            argv += ['--workers', str(workers)]
        self.name = '%s/%s' % (model, proto)
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  start_new_session=True)
        line = self._read_line()
        m = re.search(rb'listening on 127\.0\.0\.1:(\d+)', line)
        if not m:
            self.kill()
            raise AssertionError('%s: no port in %r' % (self.name, line))
        self.port = int(m.group(1))

    def _read_line(self):
        out = b''
        deadline = time.monotonic() + WAIT
        while not out.endswith(b'\n') and time.monotonic() < deadline:
            ready, _, _ = select.select([self.p.stdout], [], [], 0.1)
            if ready:
                chunk = os.read(self.p.stdout.fileno(), 1)
                if not chunk:
                    break
                out += chunk
        return out

    def connect(self):
        s = socket.create_connection(('127.0.0.1', self.port), timeout=WAIT)
        s.settimeout(WAIT)
        return s

    def children(self):
        path = '/proc/%d/task/%d/children' % (self.p.pid, self.p.pid)
        try:
            with open(path) as f:
                return f.read().split()
        except OSError:
            return []

    def stop(self):
        """SIGTERM; the server must exit 0 by itself."""
        os.kill(self.p.pid, signal.SIGTERM)
        code = self.p.wait(WAIT)
        rest = self.p.stdout.read().decode()
        if code != 0 or 'stopped' not in rest:
            raise AssertionError('%s: exit %r after SIGTERM, stdout %r, stderr %r'
                                 % (self.name, code, rest, self.p.stderr.read()))

    def kill(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait(WAIT)


def check(ok, what):
    if not ok:
        raise AssertionError(what)


def recv_until_closed(s):
    data = b''
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except ConnectionResetError:
        return data, True
    except socket.timeout:
        return data, False


class Reader:
    """Reads HTTP responses (Content-Length framed) from a socket."""

    def __init__(self, sock):
        self.s, self.buf = sock, b''

    def response(self, head_request=False):
        while b'\r\n\r\n' not in self.buf:
            chunk = self.s.recv(65536)
            check(chunk, 'connection closed before a whole response: %r' % self.buf)
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b'\r\n\r\n')
        lines = head.decode().split('\r\n')
        status = int(lines[0].split()[1])
        fields = {k.lower(): v.strip() for k, _, v in (l.partition(':') for l in lines[1:])}
        length = 0 if head_request else int(fields['content-length'])
        while len(self.buf) < length:
            chunk = self.s.recv(65536)
            check(chunk, 'connection closed inside a body')
            self.buf += chunk
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, fields, body


# ---- echo ----

def echo_client(server, index, errors):
    try:
        with server.connect() as s:
            for k in range(20):
                msg = ('client %d line %d ' % (index, k)).encode() * (1 + k * 50)
                s.sendall(msg)
                got = b''
                while len(got) < len(msg):
                    chunk = s.recv(65536)
                    check(chunk, 'closed')
                    got += chunk
                check(got == msg, 'echo differs')
    except Exception as e:  # noqa: BLE001 (reported by the main thread)
        errors.append('client %d: %r' % (index, e))


def test_echo(server):
    errors = []
    clients = [threading.Thread(target=echo_client, args=(server, i, errors)) for i in range(6)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(WAIT * 2)
    check(not errors, '%s: %s' % (server.name, errors))


# ---- http ----

GET = b'GET / HTTP/1.1\r\nHost: t\r\n\r\n'


def test_keep_alive_and_pipelining(server):
    with server.connect() as s:
        r = Reader(s)
        for _ in range(3):
            s.sendall(GET)
            status, fields, body = r.response()
            check(status == 200 and body == HELLO, 'keep-alive: %r %r' % (status, body))
            check('connection' not in fields, 'keep-alive answer says %r' % fields)
        s.sendall(GET + b'HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n'
                  + b'POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\nabcdefg' + GET)
        answers = [r.response(), r.response(head_request=True), r.response(), r.response()]
        check([a[0] for a in answers] == [200] * 4, 'pipelined statuses %r' % answers)
        check([a[2] for a in answers] == [HELLO, b'', HELLO, HELLO],
              'pipelined answers out of order: %r' % answers)
        for b in GET:  # one byte per write
            s.send(bytes([b]))
            time.sleep(0.002)
        check(r.response()[2] == HELLO, 'a request split into bytes')


def test_connection_close(server):
    for request in (b'GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
                    b'GET / HTTP/1.0\r\n\r\n'):
        with server.connect() as s:
            s.sendall(request + GET)  # what follows the close is not answered
            data, closed = recv_until_closed(s)
            check(closed, '%r: not closed' % request)
            check(data.count(b'HTTP/1.1 200') == 1 and b'Connection: close' in data,
                  '%r: %r' % (request, data))
    with server.connect() as s:
        s.sendall(b'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
        status, fields, _ = Reader(s).response()
        check(fields.get('connection') == 'keep-alive', '1.0 keep-alive: %r' % fields)


def test_errors(server):
    cases = [(b'HELLO\r\n\r\n', 400), (b'GET / HTTP/1.1\r\n\r\n', 400),
             (b'GET / HTTP/2.0\r\nHost: t\r\n\r\n', 505),
             (b'GET / HTTP/1.1\r\nHost: t\r\nX: ' + b'a' * 9000 + b'\r\n\r\n', 431),
             (b'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 9999999\r\n\r\n', 413)]
    for request, status in cases:
        with server.connect() as s:
            s.sendall(GET + request + GET)
            data, closed = recv_until_closed(s)
            check(closed, '%d: connection not closed' % status)
            check(data.startswith(b'HTTP/1.1 200') and
                  data.count(b'HTTP/1.1 %d ' % status) == 1 and data.count(b'HTTP/') == 2,
                  'expected 200 then %d, got %r' % (status, data[:300]))
    with server.connect() as s:  # still serving
        s.sendall(GET)
        check(Reader(s).response()[2] == HELLO, 'not serving after errors')


def test_slow_client(server):
    with server.connect() as s:
        start = time.monotonic()
        closed = False
        for b in GET[:-2]:  # a byte every 0.2 s: slower than TIMEOUT overall
            try:
                s.send(bytes([b]))
            except OSError:
                closed = True
                break
            r, _, _ = select.select([s], [], [], 0.2)
            if r:
                try:
                    closed = s.recv(100) == b''
                except ConnectionResetError:
                    closed = True
                break
        check(closed, 'a slow client was not dropped')
        check(time.monotonic() - start >= TIMEOUT * 0.9, 'dropped before its timeout')
    with server.connect() as s:  # an idle one too
        data, closed = recv_until_closed(s)
        check(closed and data == b'', 'an idle client was not dropped: %r' % data)


def test_many_idle(server, count):
    idle = [server.connect() for _ in range(count)]
    try:
        with server.connect() as s:
            s.sendall(GET)
            check(Reader(s).response()[2] == HELLO, 'not serving beside idle ones')
        idle[-1].sendall(GET)
        check(Reader(idle[-1]).response()[2] == HELLO, 'an idle connection not served')
    finally:
        for s in idle:
            s.close()


def wait_no_children(server):
    deadline = time.monotonic() + WAIT
    while server.children() and time.monotonic() < deadline:
        time.sleep(0.05)
    check(not server.children(), 'children left: %r' % server.children())


def run(model, proto, workers=None):
    server = Server(model, proto, workers)
    try:
        if proto == 'echo':
            test_echo(server)
        else:
            test_keep_alive_and_pipelining(server)
            test_connection_close(server)
            test_errors(server)
            test_slow_client(server)
            test_many_idle(server, 100 if model == 'coro' else 4)
        if model == 'fork':
            wait_no_children(server)
        lingering = server.connect()  # connected while the server stops
        server.stop()
        lingering.close()
    finally:
        server.kill()
    print('ok %s' % server.name)


def test_bad_arguments():
    for argv in (['serve'], ['serve', '--model', 'x'], ['serve', '--model', 'fork', '--workers', '2'],
                 ['serve', '--model', 'coro', '--proto', 'ftp'], ['serve', '--model', 'coro', 'extra'],
                 ['serve', '--model', 'pool', '--port', '70000'],
                 ['serve', '--model', 'pool', '--timeout', '0']):
        p = subprocess.run([MTASK] + argv, capture_output=True, timeout=WAIT)
        check(p.returncode == 2 and p.stderr.count(b'\n') == 1 and p.stdout == b'',
              '%r: %r' % (argv, p))
    p = subprocess.run([MTASK, 'serve', '--help'], capture_output=True, timeout=WAIT)
    check(p.returncode == 0 and b'usage: mtask serve' in p.stdout, 'help')
    print('ok arguments')


def main():
    test_bad_arguments()
    only = os.environ.get('SERVE_MODELS', 'fork thread pool coro').split()
    for model in only:
        for proto in ('echo', 'http'):
            run(model, proto, workers=2 if model == 'coro' else None)
    return 0


if __name__ == '__main__':
    sys.exit(main())
