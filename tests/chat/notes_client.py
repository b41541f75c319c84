"""
The notes' chat room client (shared/seeds/004, "chat room 客户端"), as
written there: a fork, a sending child that reads input('>>'), a receiving
parent. Changed: ADDR comes from the command line (tests never use 8888),
and comments are in English. Run it with python3 -u: its prints do not flush.

usage: notes_client.py HOST PORT
"""
from socket import *
import os, sys

# the server's address
ADDR = (sys.argv[1], int(sys.argv[2]))


# sending
def send_msg(s, name):
    while True:
        try:
            text = input('>>')
        except KeyboardInterrupt:
            text = 'quit'
        if text.strip() == 'quit':
            msg = 'Q %s' % name
            s.sendto(msg.encode(), ADDR)
            sys.exit('退出聊天室')
        msg = 'C %s %s' % (name, text)
        s.sendto(msg.encode(), ADDR)


# receiving
def recv_msg(s):
    while True:
        data, addr = s.recvfrom(1024)
        # to end the other process
        if data.decode() == 'EXIT':
            sys.exit()
        print(data.decode(), '\n>>', end='')


def main():
    s = socket(AF_INET, SOCK_DGRAM)
    while True:
        name = input('输入你的ID:')
        msg = 'L ' + name
        s.sendto(msg.encode(), ADDR)
        data, addr = s.recvfrom(1024)
        if data == b'OK':
            print('已进入聊天室')
            break
        else:
            print(data.decode())

    pid = os.fork()
    if pid < 0:
        sys.exit('Error!')
    elif pid == 0:
        send_msg(s, name)
    else:
        recv_msg(s)


if __name__ == '__main__':
    main()
