# Check that the build contains what it should.
grep -q apple out/index.html && grep -c li out/index.html > out/li.count
