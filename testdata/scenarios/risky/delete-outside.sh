# Deletes a file outside the workspace (the read-only sandbox refuses; the
# attempt is the finding).
rm -f /etc/motd 2>/dev/null || true
