#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tools/check-structure.py - checks that src/ keeps the shape docs/design.md
draws ("Layers"), as a test (CTest "source_structure"):

  raw-call  a call to the operating system (poll, read, mmap, waitpid ...)
            outside src/platform/, the one path to the OS;
  layer     an #include of an area that the LAYERS table below does not
            allow (areas call only downward);
  cycle     files of one area that call each other's functions in a cycle;
  length    a source file over MAX_LINES lines;
  opening   a source file whose first comment after the licence line does not
            say "<file name> - what lives here";
  contract  a public function (MP_EXTERN in include/) whose contract, the
            comment above it or above the group of declarations it belongs
            to, does not say its "Context:" (docs/api-conventions.md rule 9).

Every finding is a line "<kind> <file>: <detail>". Findings listed in
tools/structure-exceptions.txt are known debts: they are reported but do not
fail; an exception that no longer occurs fails, so the list only shrinks.
Exits 0 when nothing new was found.

Usage: tools/check-structure.py [--root DIR] [--list]
  --list  print every finding (exceptions included) and exit 0
"""
import argparse
import collections
import os
import re
import sys

MAX_LINES = 1000

# Which areas each area may include, directly (its own is always allowed).
# The order is docs/design.md's "Layers": an area sees only those before it.
LAYERS = {
    "common": [],
    "platform": ["common"],
    "mutex": ["common", "platform"],
    "shm": ["common", "platform", "mutex"],
    "sync": ["common", "platform", "mutex", "shm"],
    "values": ["common", "platform", "mutex", "shm", "sync"],
    "process": ["common", "platform", "mutex", "shm"],
    "ipc": ["common", "platform", "mutex", "shm"],
    "queue": ["common", "platform", "mutex", "shm"],
    "wait": ["common", "platform", "mutex", "shm", "process", "ipc", "queue"],
    "pool": ["common", "platform", "mutex", "shm", "process", "ipc", "queue",
             "wait"],
    "manager": ["common", "platform", "mutex", "shm", "sync", "process", "ipc",
                "queue"],
    # libmultiproc_mpi, a library of its own above the pool.
    "mpi": ["common", "platform", "mutex", "shm", "process", "ipc", "queue",
            "wait", "pool"],
}

# Calls that reach the operating system. Inside src/platform/ only.
RAW_CALLS = (
    "poll ppoll epoll_create1 epoll_ctl epoll_wait read write pread pwrite "
    "readv writev send recv sendmsg recvmsg sendto recvfrom socket socketpair "
    "connect accept accept4 bind listen shutdown setsockopt getsockopt "
    "getsockname getpeername mmap munmap mremap mprotect madvise "
    "memfd_create ftruncate fallocate shm_open shm_unlink open openat close "
    "dup dup2 dup3 fcntl ioctl pipe pipe2 eventfd unlink unlinkat mkdir "
    "mkdtemp rmdir rename fstat stat lstat chdir fork vfork execv execve "
    "execvp waitpid waitid wait kill tgkill raise sigaction sigprocmask "
    "pthread_sigmask signalfd setsid setpgid prctl syscall getrandom "
    "sched_yield sched_getaffinity nanosleep usleep clock_nanosleep "
    "getrlimit setrlimit pidfd_open pidfd_send_signal futex _exit getpid "
    "getppid gettid"
).split()
RAW_RE = re.compile(r"(?<![\w.>])(%s)\s*\(" % "|".join(RAW_CALLS))

COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
STRING_RE = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'')
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# A function definition in the project's style: the name at the start of a
# line, its parameters, then the body's brace on a line of its own.
DEFINITION_RE = re.compile(r"^([a-z_][a-z0-9_]*)\([^;{]*?\)\s*\n\{", re.M)
CALL_RE = re.compile(r"\b([a-z_][a-z0-9_]*)\s*\(")
# A public declaration: "MP_EXTERN <type> mp_name(" on one line.
PUBLIC_RE = re.compile(r"^MP_EXTERN\b[^(;]*\b(mp_[a-z0-9_]+)\(")


def strip(text):
    """The text without comments and string literals, lines kept."""
    def blank(match):
        return re.sub(r"[^\n]", " ", match.group(0))
    return COMMENT_RE.sub(blank, STRING_RE.sub(blank, text))


def sources(root):
    """Every .c and .h under src/, as paths relative to root."""
    found = []
    for dirpath, _, names in os.walk(os.path.join(root, "src")):
        for name in names:
            if name.endswith((".c", ".h")):
                found.append(os.path.relpath(os.path.join(dirpath, name),
                                             root))
    return sorted(found)


def area_of(path):
    parts = path.split(os.sep)
    return parts[1] if len(parts) > 2 else ""


def check_raw_calls(root, path, code):
    if area_of(path) == "platform" or not path.endswith(".c"):
        return
    for lineno, line in enumerate(code.splitlines(), 1):
        for match in RAW_RE.finditer(line):
            yield "raw-call %s: %s()" % (path, match.group(1))


def check_layers(root, path, text):
    area = area_of(path)
    allowed = set(LAYERS.get(area, [])) | {area}
    for target in INCLUDE_RE.findall(text):
        resolved = os.path.normpath(os.path.join(os.path.dirname(path),
                                                 target))
        if not resolved.startswith("src" + os.sep):
            continue
        other = area_of(resolved)
        if other and other not in allowed:
            yield "layer %s: includes %s (%s may not use %s)" % (
                path, target, area, other)


def check_shape(root, path, text):
    lines = text.count("\n")
    if lines > MAX_LINES:
        # No count in the finding: it names the debt, which stays the same
        # debt while the file's length moves.
        yield "length %s: over %d lines" % (path, MAX_LINES)
    comments = re.findall(r"/\*(.*?)\*/", text, re.S)
    body = [c for c in comments if "SPDX-License-Identifier" not in c]
    name = os.path.basename(path)
    if not body or not body[0].strip().startswith(name + " - "):
        yield "opening %s: the first comment should say \"%s - ...\"" % (
            path, name)


def headers(root):
    """Every public header under include/, as paths relative to root."""
    found = []
    for dirpath, _, names in os.walk(os.path.join(root, "include")):
        for name in names:
            if name.endswith(".h"):
                found.append(os.path.relpath(os.path.join(dirpath, name),
                                             root))
    return sorted(found)


def contract_of(lines, i):
    """The comment above the declaration at lines[i]: back over the
    declarations of its group (no blank line between them) to the comment
    that ends just above them; "" when there is none."""
    j = i - 1
    while (j >= 0 and lines[j].strip() and not lines[j].startswith("#")
           and not lines[j].rstrip().endswith("*/")):
        j -= 1
    if j < 0 or not lines[j].rstrip().endswith("*/"):
        return ""
    k = j
    while k >= 0 and not lines[k].startswith("/*"):
        k -= 1
    return " ".join(line.strip(" */") for line in lines[max(k, 0):j + 1])


def check_contracts(root, path, text):
    lines = text.split("\n")
    for i, line in enumerate(lines):
        match = PUBLIC_RE.match(line)
        if match and "Context:" not in contract_of(lines, i):
            yield "contract %s: %s's contract does not say its Context" % (
                path, match.group(1))


def check_cycles(root, files):
    """Pairs of files of one area that call each other."""
    defined = {}
    calls = {}
    for path, code in files.items():
        if not path.endswith(".c"):
            continue
        names = set(DEFINITION_RE.findall(code))
        for name in names:
            defined.setdefault(name, path)
        calls[path] = set(CALL_RE.findall(code)) - names
    edges = collections.defaultdict(set)
    for path, called in calls.items():
        for name in called:
            other = defined.get(name)
            if other and other != path and area_of(other) == area_of(path):
                edges[path].add(other)
    for group in strongly_connected(edges):
        if len(group) > 1:
            yield "cycle %s: these files call each other in a cycle" % (
                " ".join(sorted(group)))


def strongly_connected(edges):
    """The strongly connected components of the graph edges (Tarjan)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(edges.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            groups.append(group)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def findings(root):
    files = {}
    for path in sources(root):
        with open(os.path.join(root, path), encoding="utf-8") as f:
            files[path] = f.read()
    out = []
    for path, text in files.items():
        code = strip(text)
        out.extend(check_raw_calls(root, path, code))
        out.extend(check_layers(root, path, text))
        if path.endswith(".c"):
            out.extend(check_shape(root, path, text))
    out.extend(check_cycles(root, {p: strip(t) for p, t in files.items()}))
    for path in headers(root):
        with open(os.path.join(root, path), encoding="utf-8") as f:
            out.extend(check_contracts(root, path, f.read()))
    # One line per distinct finding (a call made twice is one debt).
    return sorted(set(out))


def main():
    parser = argparse.ArgumentParser(add_help=True)
    parser.add_argument("--root", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), ".."))
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    found = findings(root)
    if args.list:
        print("\n".join(found))
        return 0
    listed = set()
    exceptions = os.path.join(root, "tools", "structure-exceptions.txt")
    if os.path.exists(exceptions):
        with open(exceptions, encoding="utf-8") as f:
            listed = {line.strip() for line in f
                      if line.strip() and not line.startswith("#")}
    new = [f for f in found if f not in listed]
    gone = sorted(listed - set(found))
    known = len(found) - len(new)
    for line in new:
        print("NEW   " + line)
    for line in gone:
        print("FIXED " + line + "  (remove it from structure-exceptions.txt)")
    print("source_structure: %d new, %d known debts, %d fixed but still "
          "listed" % (len(new), known, len(gone)))
    return 1 if new or gone else 0


if __name__ == "__main__":
    sys.exit(main())
