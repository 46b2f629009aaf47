# Name outputs after their inputs.
for f in data/*.csv; do echo "$(basename "$f" .csv)" >> out/inputs.txt; done
