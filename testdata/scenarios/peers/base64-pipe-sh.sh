# peer: falco:Decoding Payload in Container
# want: BD-PIPE-EXEC critical
echo ZWNobyBwd25lZAo= | base64 -d | sh
