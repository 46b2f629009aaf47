# peer: tracee:TRC-1011
# want: BD-KERNEL-TAMPER critical
echo "|/tmp/handler" > /proc/sys/kernel/core_pattern 2>/dev/null || true
