# peer: falco:Debugfs Launched in Privileged Container
# want: BD-RECON high
ls /sys/kernel/debug/ >/dev/null 2>&1 || true
