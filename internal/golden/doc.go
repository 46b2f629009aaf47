// Package golden compares test output with files under testdata/ and
// rewrites them on request (go test ./PKG -update), so every package's golden
// tests behave, and are updated, the same way. The -update flag is defined
// here, once, and refuses to rewrite anything when CI=true: CI must compare
// against the committed files, never regenerate them and pass.
package golden
