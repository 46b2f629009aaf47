// Package egress is the network between "none" and "host": an egress proxy
// and a DNS resolver served inside a sandbox's network namespace, which has
// no route to the outside.
//
// The listeners are opened by a goroutine on a locked OS thread that joined
// the sandbox's network namespace (setns) and went back to the host's before
// the thread was released, so the sockets live in the sandbox while every
// dial out happens from the host — and only for destinations the Policy
// allows. Clients find the proxy through HTTP_PROXY/HTTPS_PROXY/ALL_PROXY
// (Env); it speaks HTTP CONNECT, plain HTTP (absolute URIs) and SOCKS5 on
// one port. The resolver answers allowed names (pinned with --add-host, or
// resolved on the host) and refuses the rest.
//
// Every request and every query is kept as a Request with its decision and
// the host pid of the process that made it (found from the client socket's
// inode in the sandbox's /proc/net tables); the recorder stores them in the
// proxy_requests view. The package knows nothing about the store or eBPF.
package egress
