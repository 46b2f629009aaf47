# peer: tracee:TRC-107
# want: BD-ENV-INJECT critical
# needs: env
LD_PRELOAD=/nonexistent.so cat out/total.txt >/dev/null 2>&1 || true
