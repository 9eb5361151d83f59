# SPDX-License-Identifier: MIT
# py_shareable_peer.py - the Python end of the ShareableList interop tests
# in test-shareable-list.c. Usage: py_shareable_peer.py MODE NAME
#   compare NAME  build ITEMS in a list of Python's own and check that the
#                 C list NAME has the very same bytes
#   check NAME    check that the C list NAME holds ITEMS, then write WRITES
#   create NAME   create a list NAME holding ITEMS and leave it (the C test
#                 unlinks it)
#   verify NAME   check that list NAME holds WRITES (written by C)
# Exits 0 when all holds, 1 (with a message on stderr) when not.
import sys
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import ShareableList

# Keep in step with ITEMS / WRITES in test-shareable-list.c.
ITEMS = [42, -7, 3.5, True, False, None, "hello", "", "exactly8",
         b"\x00ab\x00", "h\u00e9llo", 2**63 - 1]
WRITES = [-1, 2.25, "new", b"xyz", None, True, 0.0, 12345, "exactly8",
          b"", "hi", "\u00e9"]


def forget(sl):
    # Python 3.11 registers an attached block with its resource tracker,
    # which would unlink it when this process exits (gh-82300).
    resource_tracker.unregister(sl.shm._name, "shared_memory")


def expect(sl, want):
    got = list(sl)
    # bytes lose their trailing NULs, as Python's own reads do
    want = [w.rstrip(b"\x00") if isinstance(w, bytes) else w for w in want]
    if got != want or [type(g) for g in got] != [type(w) for w in want]:
        sys.exit(f"list holds {got!r}, expected {want!r}")


def main():
    mode, name = sys.argv[1], sys.argv[2]
    if mode == "create":
        sl = ShareableList(ITEMS, name=name)
        forget(sl)
        sl.shm.close()
        return
    sl = ShareableList(name=name)
    forget(sl)
    if mode == "compare":
        mine = ShareableList(ITEMS)
        try:
            if bytes(mine.shm.buf) != bytes(sl.shm.buf):
                sys.exit(f"bytes differ:\n  py {bytes(mine.shm.buf).hex()}"
                         f"\n  c  {bytes(sl.shm.buf).hex()}")
            if mine.format != sl.format:
                sys.exit(f"format {sl.format!r}, expected {mine.format!r}")
        finally:
            mine.shm.close()
            mine.shm.unlink()
    elif mode == "check":
        expect(sl, ITEMS)
        for i, v in enumerate(WRITES):
            sl[i] = v
        try:
            sl[6] = "x" * 9  # room 8: ValueError, nothing changes
            sys.exit("oversized str accepted")
        except ValueError:
            pass
    elif mode == "verify":
        expect(sl, WRITES)
    else:
        sys.exit(f"unknown mode {mode}")
    sl.shm.close()


if __name__ == "__main__":
    main()
