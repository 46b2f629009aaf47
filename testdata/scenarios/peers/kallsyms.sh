# peer: (kernel symbol recon, Tracee hooking detectors need it)
# want: BD-RECON high
head -n 1 /proc/kallsyms >/dev/null 2>&1 || true
