// Package ci holds behavediff's CI integrations (the GitHub composite action
// under action/ and the GitLab template gitlab.yml) and the tests that run
// them as a CI runner would; it has no Go API.
package ci
