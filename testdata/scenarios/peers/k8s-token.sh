# peer: tracee:TRC-108
# want: BD-SECRET-READ critical
cat /var/run/secrets/kubernetes.io/serviceaccount/token >/dev/null 2>&1 || true
