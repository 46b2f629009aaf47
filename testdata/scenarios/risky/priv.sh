# Tries to escape into new user and network namespaces.
python3 -c 'import ctypes; ctypes.CDLL(None).unshare(0x10000000 | 0x40000000)'
