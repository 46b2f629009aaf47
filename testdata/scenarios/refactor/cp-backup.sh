# Keep a backup of the data before overwriting it.
cp data/raw.csv data/raw.csv.bak
