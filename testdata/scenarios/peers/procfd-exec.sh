# peer: tracee:TRC-105
# want: BD-FILELESS-EXEC critical
python3 - <<'PY' || true
import os
fd = os.memfd_create("payload")
os.write(fd, open("/bin/true", "rb").read())
os.execv("/proc/self/fd/%d" % fd, ["payload"])
PY
