# peer: falco:Contact cloud metadata service from container
# want: BD-METADATA critical
python3 -c "
import socket
try:
    socket.create_connection((\"fd00:ec2::254\", 80), timeout=1)
except OSError:
    pass
"
