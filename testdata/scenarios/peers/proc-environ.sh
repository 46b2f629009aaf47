# peer: falco:Read environment variable from /proc files
# want: BD-RECON high
cat /proc/1/environ >/dev/null 2>&1 || true
