# Normalise line endings.
sed -i 's/\r$//' data/raw.csv
