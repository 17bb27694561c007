//go:build tools

// Package tools pins Argo CD's multi-call command (application controller, repo server, ...) for the GitOps test.
package tools

import (
	_ "github.com/argoproj/argo-cd/v3/cmd"
)
