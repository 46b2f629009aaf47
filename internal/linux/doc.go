// Package linux holds the Linux ABI values behavediff interprets in recorded
// events: open flags, AT_* flags, address families and socket types.
//
// They are fixed numbers, not golang.org/x/sys/unix's, because a stored run
// or a baseline is read on whatever machine the reviewer uses (unix.O_CREAT
// is 0x200 on macOS), and because the values describe the kernel the run was
// recorded on, not the one reading it. linux_test.go checks them against
// x/sys/unix on Linux. Values are the x86-64 ones; they match arm64's except
// where noted.
package linux
