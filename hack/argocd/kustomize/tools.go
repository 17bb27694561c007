//go:build tools

// Package tools pins the kustomize command Argo CD's repo server runs to render kustomizations.
package tools

import (
	_ "sigs.k8s.io/kustomize/kustomize/v5"
)
