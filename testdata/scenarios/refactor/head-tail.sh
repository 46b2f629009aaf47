# Keep a preview of the data.
head -n 2 data/raw.csv > out/preview.csv; tail -n 1 data/raw.csv >> out/preview.csv
