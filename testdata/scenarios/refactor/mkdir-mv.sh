# Move the archive into a dist directory.
mkdir -p dist && printf x > dist/.keep && mv dist/.keep dist/keep
