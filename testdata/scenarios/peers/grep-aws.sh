# peer: falco:Find AWS Credentials
# want: BD-SECRET-READ critical
grep -r aws_secret_access_key ~/.aws >/dev/null 2>&1 || true
