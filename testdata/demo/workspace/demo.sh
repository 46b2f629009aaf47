#!/bin/sh
# behavediff demo: an "AI-written" build script that does a little of
# everything a recorder should see.
set -u
echo "building in $(pwd)"
cat /etc/os-release > /dev/null                 # read outside the workspace
mkdir -p out
date > out/build-info.txt                        # write inside the workspace
tmp=$(mktemp)                                    # random temp name
echo scratch > "$tmp" && rm -f "$tmp"
rm -f stale.log                                  # delete inside the workspace
python3 - <<'PY'
import socket
try:
    socket.getaddrinfo("updates.example.com", 443)   # DNS lookup (recorded, never answered)
except OSError as e:
    print("dns failed as expected:", e.__class__.__name__)
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("203.0.113.5", 443))                  # egress attempt (no network in the sandbox)
except OSError as e:
    print("connect failed as expected:", e.strerror)
PY
cat "$HOME/.ssh/id_rsa" 2>/dev/null || echo "no ssh key visible (masked)"
echo done
