# Exercises the network operations the recorder must see, all on loopback
# or unix sockets inside the sandbox's own network namespace.
import socket

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen(1)
port = srv.getsockname()[1]
cli = socket.socket()
cli.connect(("127.0.0.1", port))
conn, peer = srv.accept()
print("peer port", peer[1])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"ping", ("127.0.0.1", 9999))         # unconnected send: destination recorded
us = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
us.bind("app.sock")
us.listen(1)
uc = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
uc.connect("app.sock")
try:
    socket.getaddrinfo("updates.example.com", 443)
except OSError:
    pass
print("net done", port)
