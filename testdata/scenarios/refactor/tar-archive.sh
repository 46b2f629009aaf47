# Archive the build.
tar -czf out.tar.gz out
