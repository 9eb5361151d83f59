#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""json_driver.py - a Python program that hands tasks to C workers.

Usage: json_driver.py PATH/TO/json_worker [WORKERS]

Only the standard library: multiprocessing.connection's Listener (with an
authkey) and json. It starts WORKERS (default 2) copies of the C program
examples/json_worker, passing the address on the command line and the
authkey in the environment, accepts one connection from each, deals the
tasks out, gathers every reply, and stops each worker with {"op": "stop"}
(the JSON spelling of a None pill). A task the worker cannot do comes back
as {"error": ...}, which the driver raises as Python would re-raise a
task's exception. Prints one line per check and exits 0 when every answer
was right.
"""
import json
import os
import secrets
import subprocess
import sys
import tempfile
from multiprocessing.connection import Listener, wait


class TaskError(Exception):
    """A task failed on the C side; the message is the worker's."""


def tasks():
    """The work: (task, expected result or the TaskError it must raise)."""
    work = []
    for i, n in enumerate([0, 1, 10, 100, 1000]):
        work.append(({"id": i, "op": "sum_squares", "n": n},
                     n * (n + 1) * (2 * n + 1) // 6))
    texts = ["", "one", "C and Python share one connection", "  spaced   out "]
    for j, text in enumerate(texts, start=len(work)):
        work.append(({"id": j, "op": "word_count", "text": text},
                     len(text.split())))
    bad = len(work)
    work.append(({"id": bad, "op": "divide_by_zero"},
                 TaskError("unknown op 'divide_by_zero'")))
    work.append(({"id": bad + 1, "op": "sum_squares", "n": -5},
                 TaskError("sum_squares needs 0 <= n <= 1000000")))
    return work


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    worker_path = sys.argv[1]
    nworkers = int(sys.argv[2]) if len(sys.argv) == 3 else 2
    key = secrets.token_bytes(32)
    with tempfile.TemporaryDirectory(prefix="json-driver-") as tmp:
        address = os.path.join(tmp, "driver.sock")
        with Listener(address, family="AF_UNIX", authkey=key) as listener:
            env = dict(os.environ, MP_AUTHKEY=key.hex())
            procs = [subprocess.Popen([worker_path, address], env=env)
                     for _ in range(nworkers)]
            conns = [listener.accept() for _ in procs]
            print(f"{nworkers} C workers connected")
            work = tasks()
            expected = {task["id"]: want for task, want in work}
            for k, (task, _) in enumerate(work):
                conns[k % nworkers].send_bytes(json.dumps(task).encode())
            replies = {}
            while len(replies) < len(work):
                for conn in wait(conns, timeout=30):
                    reply = json.loads(conn.recv_bytes())
                    replies[reply["id"]] = reply
            bad = 0
            for task_id in sorted(expected):
                want, reply = expected[task_id], replies[task_id]
                try:
                    if "error" in reply:
                        raise TaskError(reply["error"])
                    got = reply["result"]
                    ok = not isinstance(want, Exception) and got == want
                    print(f"task {task_id}: {got}" + ("" if ok else
                          f" (expected {want!r})"))
                except TaskError as err:
                    ok = isinstance(want, TaskError) and str(err) == str(want)
                    print(f"task {task_id}: raised TaskError: {err}")
                bad += not ok
            for conn in conns:
                conn.send_bytes(json.dumps({"op": "stop"}).encode())
                conn.close()
            codes = [p.wait(timeout=30) for p in procs]
            print(f"workers exited with {codes}")
            if bad or any(codes):
                print(f"json_driver: {bad} wrong answers")
                return 1
            print(f"all {len(work)} answers right")
            return 0


if __name__ == "__main__":
    sys.exit(main())
