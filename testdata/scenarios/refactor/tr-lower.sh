# Lower-case the names.
tr "[:upper:]" "[:lower:]" < data/raw.csv > out/lower.csv
