# peer: falco:Search Private Keys or Passwords
# want: BD-KEY-SEARCH high
find /root /home -maxdepth 2 -name id_rsa 2>/dev/null || true
