//go:build tools

// Package tools pins actionlint, which lints .github/workflows in the tests (tests/manifests/test_workflows.py).
package tools

import (
	_ "github.com/rhysd/actionlint/cmd/actionlint"
)
