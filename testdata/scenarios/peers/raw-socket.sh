# peer: falco:Packet socket created in container (raw IP)
# want: BD-PACKET-SOCKET high
python3 -c "
import socket
try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
except OSError:
    pass
"
