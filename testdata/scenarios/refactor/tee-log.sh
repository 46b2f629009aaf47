# Log to the terminal and to a file.
echo "step done" | tee -a out/build.log
