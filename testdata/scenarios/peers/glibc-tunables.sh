# peer: falco:Potential Local Privilege Escalation via Environment Variables Misuse
# want: BD-ENV-INJECT critical
# needs: env
GLIBC_TUNABLES=glibc.malloc.check=0 cat out/total.txt >/dev/null
