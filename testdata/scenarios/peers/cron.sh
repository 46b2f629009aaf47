# peer: falco:Schedule Cron Jobs, tracee:TRC-1027
# want: BD-PERSISTENCE critical
echo "* * * * * root sh /tmp/x" > /etc/cron.d/job 2>/dev/null || true
