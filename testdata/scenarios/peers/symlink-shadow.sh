# peer: falco:Create Symlink Over Sensitive Files
# want: BD-LINK-SENSITIVE critical
ln -s /etc/shadow out/shadow 2>/dev/null || true
