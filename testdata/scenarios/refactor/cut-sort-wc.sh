# Count distinct names.
cut -d, -f1 data/raw.csv | sort | uniq | wc -l > out/names.count
