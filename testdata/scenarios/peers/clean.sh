#!/bin/sh
# The clean program of the peer-rule scenarios: a small data job that
# prepares a CSV, totals it in Python (code on stdin, as a heredoc) and
# prints the result. Every variant in this directory appends one behaviour
# taken from Falco's or Tracee's rules; the header of each says which peer
# rule it comes from and what `behavediff check` must rate it.
mkdir -p out
printf 'a,1\nb,2\nc,3\n' > out/input.csv
python3 - <<'PY'
import csv
rows = list(csv.reader(open("out/input.csv")))
open("out/total.txt", "w").write(str(sum(int(r[1]) for r in rows)) + "\n")
PY
cat out/total.txt
