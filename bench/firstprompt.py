#!/usr/bin/python3
"""firstprompt.py PROMPT CMD [ARG...]: run CMD in a pseudo-terminal, as a
person at a terminal would, until its output shows PROMPT (the interactive
prompt, after whatever the tool prints first), then kill it. The time from
start to prompt is the caller's wall time (bench/compare.sh wraps this in
/usr/bin/time). Exits 1 if the prompt does not appear within 600 s."""
import os, pty, select, signal, sys, time

prompt = sys.argv[1].encode()
pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "dumb"
    os.execvp(sys.argv[2], sys.argv[2:])
seen = b""
deadline = time.monotonic() + 600
ok = False
while time.monotonic() < deadline:
    r, _, _ = select.select([fd], [], [], 1.0)
    if not r:
        continue
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    seen = (seen + chunk)[-4096:]
    if prompt in seen:
        ok = True
        break
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
if not ok:
    sys.stderr.write("no %r prompt; last output: %r\n" % (prompt, seen[-300:]))
sys.stdout.write(seen.decode(errors="replace")[-200:])
sys.exit(0 if ok else 1)
