# peer: tracee:TRC-1029
# want: BD-RECON high
cat /proc/sched_debug >/dev/null 2>&1 || true
