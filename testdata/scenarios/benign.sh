#!/bin/sh
# The benign program of the snapshot scenarios: a small "build" that is
# nondeterministic on purpose (times, random temp names, a random local port,
# a varying number of identical workers). An unchanged program must diff
# clean however often it is replayed.
set -e
echo "started at $(date +%s%N)"
mkdir -p build
tmp=$(mktemp -d)
echo data > "$tmp/part-$$"
cp "$tmp/part-$$" build/out.txt
rm -rf "$tmp"
python3 - <<'PY'
import os, random, socket, subprocess, tempfile, time
with tempfile.NamedTemporaryFile(prefix="cache-") as f:       # random temp name
    f.write(os.urandom(16))
s = socket.socket()
s.bind(("127.0.0.1", 0))                                       # random local port
s.listen(1)
c = socket.create_connection(s.getsockname())
a, _ = s.accept()
c.sendall(b"x")
a.recv(1)
n = random.randint(1, 4)                                       # varying worker count
workers = [subprocess.Popen(["/bin/sh", "-c", "cat /etc/hostname > /dev/null"]) for _ in range(n)]
for w in workers:
    w.wait()
print("workers", n, "at", time.time())
PY
echo done
