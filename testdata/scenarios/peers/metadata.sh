# peer: falco:Contact EC2 Instance Metadata Service From Container
# want: BD-METADATA critical
python3 -c "
import socket
try:
    socket.create_connection((\"169.254.169.254\", 80), timeout=1)
except OSError:
    pass
"
