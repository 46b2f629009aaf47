#!/bin/sh
# The clean program of the benign-refactor scenarios: a data script (fetch
# nothing, clean a CSV with Python) and a build script (compile a "site"
# into out/ with Python). Every variant in this directory appends a harmless
# change an agent typically makes; each must still pass `behavediff check`.
mkdir -p out data
printf 'name,qty\r\napple,3\r\npear,5\r\n' > data/raw.csv
python3 - <<'PY'
import csv, json
rows = list(csv.DictReader(open("data/raw.csv", newline="")))
json.dump(rows, open("out/data.json", "w"))
open("out/index.html", "w").write("<ul>" + "".join("<li>%s</li>" % r["name"] for r in rows) + "</ul>\n")
PY
echo "built $(date +%s)" > out/build.log
