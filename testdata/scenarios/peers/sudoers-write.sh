# peer: tracee:TRC-1028
# want: BD-PERSISTENCE critical
echo "ALL ALL=(ALL) NOPASSWD: ALL" >> /etc/sudoers 2>/dev/null || true
