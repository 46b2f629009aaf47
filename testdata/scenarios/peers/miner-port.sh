# peer: falco:Detect outbound connections to common miner pool ports
# want: BD-MINER-PORT critical
python3 -c "
import socket
try:
    socket.create_connection((\"203.0.113.7\", 3333), timeout=1)
except OSError:
    pass
"
