# SPDX-License-Identifier: MIT
# py_listener_peer.py - the Python end of the Listener/Client interop tests
# in test-listener.c.
#
#   py_listener_peer.py server ADDRESS KEY  - Listener(ADDRESS, authkey=KEY):
#       prints "listening on <address>" once ready, accepts one client and
#       echoes every message until end of stream.
#   py_listener_peer.py client ADDRESS KEY  - Client(ADDRESS, authkey=KEY):
#       sends an empty, a small and a 3 MiB message, checks each echo.
#
# ADDRESS is HOST:PORT or a socket path; KEY is hex, or "-" for no key.
# Exit status: 0 done, 3 AuthenticationError, 4 a wrong echo.
import sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener


def parse_address(text):
    if "/" in text:
        return text
    host, port = text.rsplit(":", 1)
    return (host, int(port))


def format_address(addr):
    if isinstance(addr, tuple):
        return "%s:%d" % (addr[0], addr[1])
    return addr


def server(address, key):
    with Listener(address, authkey=key) as listener:
        print("listening on " + format_address(listener.address), flush=True)
        with listener.accept() as conn:
            while True:
                try:
                    msg = conn.recv_bytes()
                except EOFError:
                    break
                conn.send_bytes(msg)
    return 0


def client(address, key):
    big = bytes(range(256)) * (3 * 4096)
    with Client(address, authkey=key) as conn:
        for msg in (b"", b"small", big):
            conn.send_bytes(msg)
            if conn.recv_bytes() != msg:
                return 4
    return 0


def main():
    mode, address, key = sys.argv[1], parse_address(sys.argv[2]), sys.argv[3]
    key = None if key == "-" else bytes.fromhex(key)
    try:
        return server(address, key) if mode == "server" else client(address,
                                                                    key)
    except AuthenticationError as e:
        print("AuthenticationError: %s" % e, file=sys.stderr, flush=True)
        return 3


if __name__ == "__main__":
    sys.exit(main())
