# Sum the quantities.
awk -F, 'NR > 1 { s += $2 } END { print s }' data/raw.csv > out/total.txt
