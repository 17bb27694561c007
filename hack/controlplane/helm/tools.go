//go:build tools

// Package tools pins the helm command that renders the chart in manifests/chart for the tests.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
