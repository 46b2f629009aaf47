//go:build !amd64

package bpf

// compatNames is empty where no compat table is compiled in: a compat
// syscall is then named by its number (still recorded, still critical).
var compatNames = map[int]string{}
