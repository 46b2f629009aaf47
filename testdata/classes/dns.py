# Looks names up from the DNS server given as argv[1] (a fake one on a
# loopback address that the test runs), receiving the answer in each way a
# resolver does, then connects to an answered address and to a literal one.
import os, socket, struct, sys

server = sys.argv[1]

def query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)

# musl style: unconnected sendto, recvfrom with the source address
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(query("recvfrom.example", 1), (server, 53))
s.recvfrom(512)
# glibc style: connected socket, send and recv (recvfrom without address)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((server, 53))
s.send(query("recv.example", 2))
s.recv(512)
# Go style: connected socket, write and read
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((server, 53))
os.write(s.fileno(), query("read.example", 3))
os.read(s.fileno(), 512)
# recvmsg
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(query("recvmsg.example", 4), (server, 53))
s.recvmsg(512)

for addr in ("127.0.0.21", "127.0.0.99"):  # answered, then literal
    c = socket.socket()
    try:
        c.connect((addr, 9))  # nothing listens: refused, on loopback
    except OSError:
        pass
print("dns done")
