# peer: falco:Read sensitive file untrusted
# want: BD-SENSITIVE-READ high
cat /etc/sudoers >/dev/null 2>&1 || true
ls /etc/sudoers.d >/dev/null 2>&1 || true
