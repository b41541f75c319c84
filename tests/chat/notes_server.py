"""
The notes' chat room server (shared/seeds/004, "chat room 服务端"), as
written there: a dict {name: address}, a fork whose child sends the
admin's input as 'C 管理员 text' to the server's own address. Changed:
HOST and PORT come from the command line, port 0 picks a free one, and the
bound port is printed first (tests never use 8888); the admin child sends
to the bound address; comments are in English.

usage: notes_server.py HOST PORT
"""
from socket import *
import os, sys

HOST = sys.argv[1]
PORT = int(sys.argv[2])
ADDR = (HOST, PORT)

# the users {name: address}
user = {}


def login(s, name, addr):
    # the admin: no user may take its name
    if name in user or '管理员' in name:
        s.sendto('\n用户名存在'.encode(), addr)
        return
    else:
        s.sendto(b'OK', addr)
    msg = '\n欢迎%s加入群聊' % name
    for i in user:
        s.sendto(msg.encode(), user[i])
    user[name] = addr


def chat(s, name, text):
    msg = '%s:%s' % (name, text)
    for i in user:
        if i != name:
            s.sendto(msg.encode(), user[i])


def quit(s, name):
    s.sendto(b'EXIT', user[name])
    del user[name]
    notice = '\n%s 退出群聊' % name
    for i in user:
        s.sendto(notice.encode(), user[i])


def do_request(s):
    while True:
        data, addr = s.recvfrom(1024)
        sign = data.decode().split(' ', 2)
        if sign[0] == 'L':
            login(s, sign[1], addr)
        elif sign[0] == 'C':
            chat(s, sign[1], sign[2])
        elif sign[0] == 'Q':
            quit(s, sign[1])


def main():
    global ADDR
    s = socket(AF_INET, SOCK_DGRAM)
    s.bind(ADDR)
    ADDR = s.getsockname()
    print(ADDR[1], flush=True)
    pid = os.fork()
    if pid == 0:
        # the admin process
        while True:
            msg = input('管理员消息:')
            msg = 'C 管理员 %s' % msg
            s.sendto(msg.encode(), ADDR)
    else:
        do_request(s)

if __name__ == '__main__':
    main()
