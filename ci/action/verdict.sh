#!/usr/bin/env bash
# Fails the job like behavediff check would have, after the uploads.
set -u
code="${BD_EXIT:-2}"
case "$code" in
  0) echo "behavediff: pass" ;;
  1) echo "::error::behavediff: new risky behaviour (verdict ${BD_VERDICT:-fail}); see the job summary and the artifact's HTML reports" ;;
  2) echo "::error::behavediff: could not decide (verdict ${BD_VERDICT:-error}): a spec without a baseline (review the artifact's pending-baselines), lost events or an error" ;;
  *) echo "::error::behavediff failed (exit $code)" ;;
esac
exit "$code"
