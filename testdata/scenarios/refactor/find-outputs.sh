# List what was built.
find out -type f -name "*.html" > out/manifest.txt
