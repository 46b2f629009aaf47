# peer: falco:Privileged Container Device Access
# want: BD-RAW-DEVICE critical
dd if=/dev/sda of=/dev/null bs=512 count=1 2>/dev/null || true
