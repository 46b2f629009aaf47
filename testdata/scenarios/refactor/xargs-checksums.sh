# Checksum the outputs.
find out -type f -name "*.json" | xargs sha256sum > out/SHA256SUMS
