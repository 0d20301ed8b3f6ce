"""``alexnet-viz`` for tests that run it many times: each run is forked from one process that has
imported the command line once, instead of a new Python importing torch and torchvision (about 3
CPU-seconds each here, more than most commands' own work).

``warm_cli(env)`` starts that process (with ``env``: the one the commands run in) and yields a
folder holding an ``alexnet-viz`` to put first on ``PATH``. That ``alexnet-viz`` is a small
client: it sends its arguments, working folder, environment and its standard input, output and
error (the open files themselves) over a Unix socket; the warm process forks, the child takes
them and runs ``alexnet_viz.cli.main`` as the installed script would, and the client exits with
its status. What a command prints, writes and returns is what it would be from a fresh process.

The warm process imports the modules and nothing else: no torch operation runs in it before a
fork (torch's thread pools start on first use, in each child).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# The client: Python without site-packages (-IS), so it starts in a few milliseconds.
CLIENT = r'''#!{python} -IS
import array, json, os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect({sock!r})
msg = json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}}).encode()
s.sendmsg([len(msg).to_bytes(8, "big") + msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
status = b""
while len(status) < 4:
    part = s.recv(4 - len(status))
    if not part:
        sys.exit("alexnet-viz: the warm test process went away")
    status += part
sys.exit(int.from_bytes(status, "big", signed=True))
'''

# The warm process: imports the command line, then forks one child per request.
SERVER = r'''
import array, json, os, signal, socket, sys
import alexnet_viz.cli as cli
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the system; each says its own status
sock = sys.argv[1]
srv = socket.socket(socket.AF_UNIX)
srv.bind(sock)
srv.listen(8)
print("ready", flush=True)
while True:
    conn, _ = srv.accept()
    fds = array.array("i")
    head, anc, _flags, _addr = conn.recvmsg(8, socket.CMSG_LEN(3 * fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    size, body = int.from_bytes(head, "big"), b""
    while len(body) < size:
        body += conn.recv(size - len(body))
    req = json.loads(body)
    pid = os.fork()
    if pid == 0:  # the command, as the installed script would run it
        srv.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", closefd=False)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.argv = ["alexnet-viz", *req["argv"]]
        code = 1
        try:  # as the installed script does: sys.exit(main())
            sys.exit(cli.main(req["argv"]))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if not isinstance(exc.code, (int, type(None))):
                print(exc.code, file=sys.stderr)
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                conn.sendall(int(code).to_bytes(4, "big", signed=True))
                os._exit(0)
    for fd in fds:  # the child has them; the next request may come while it runs (a pipe's other end)
        os.close(fd)
    conn.close()
'''


@contextmanager
def warm_cli(env: dict[str, str]) -> Iterator[Path]:
    """A folder with an ``alexnet-viz`` that runs each command in a child of one warm process
    (see the module); the process runs with ``env`` and ends with the context."""
    with tempfile.TemporaryDirectory(prefix="warm-cli-") as tmp:
        sock = os.path.join(tmp, "cli.sock")
        log = open(os.path.join(tmp, "warm.log"), "w+")
        proc = subprocess.Popen([sys.executable, "-c", SERVER, sock], env=env, stdout=subprocess.PIPE,
                                stderr=log, text=True)
        try:
            if proc.stdout.readline().strip() != "ready":
                log.seek(0)
                raise RuntimeError(f"the warm alexnet-viz did not start: {log.read()[-2000:]}")
            bin_dir = Path(tmp) / "bin"
            bin_dir.mkdir()
            client = bin_dir / "alexnet-viz"
            client.write_text(CLIENT.format(python=sys.executable, sock=sock))
            client.chmod(0o755)
            yield bin_dir
        finally:
            proc.kill()
            proc.wait(timeout=20)
            log.close()
