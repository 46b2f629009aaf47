# peer: falco:Packet socket created in container
# want: BD-PACKET-SOCKET high
python3 -c "
import socket
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
except OSError:
    pass
"
