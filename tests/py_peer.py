# SPDX-License-Identifier: MIT
# py_peer.py - the Python end of the interop test in test-connection.c:
# wraps the inherited fd argv[1] in multiprocessing.connection.Connection and
# echoes every message back until end of stream.
import sys
from multiprocessing.connection import Connection


def main():
    conn = Connection(int(sys.argv[1]))
    while True:
        try:
            msg = conn.recv_bytes()
        except EOFError:
            break
        conn.send_bytes(msg)
    conn.close()


if __name__ == "__main__":
    main()
