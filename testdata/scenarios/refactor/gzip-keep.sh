# Ship a compressed copy too.
gzip -kf out/data.json
