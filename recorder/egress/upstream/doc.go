// Package upstream gives network tests an "internet" that never leaves the
// machine: a network namespace of the test's own, joined to the host by a
// veth pair on a private 10.231.N.0/30, with an HTTP and an HTTPS server
// (certificate from a test CA) listening there. The test points behavediff
// at it with --add-host; every address a test expects to be denied is also
// an address of that namespace, so even broken enforcement sends nothing
// off the machine. Cleanup tears it all down.
package upstream
