# peer: falco:Set Setuid or Setgid bit
# want: BD-SETUID critical
cp /bin/true out/t && chmod u+s out/t 2>/dev/null || true
