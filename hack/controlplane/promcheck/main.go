// Command promcheck reads a YAML stream on stdin and decodes every ServiceMonitor and PrometheusRule in it into
// the Prometheus Operator's own Go types (monitoring.coreos.com/v1), refusing unknown fields: a misspelt field,
// or a value of the wrong type, fails as the real CRDs' schemas would refuse it. Other kinds are skipped.
// tests/manifests/test_monitoring.py runs it on the chart's rendering.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

func strict(raw []byte, into any) error {
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.DisallowUnknownFields()
	return decoder.Decode(into)
}

func main() {
	decoder := utilyaml.NewYAMLOrJSONDecoder(os.Stdin, 4096)
	checked, failed := 0, 0
	for {
		var object map[string]any
		if err := decoder.Decode(&object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			fmt.Fprintf(os.Stderr, "promcheck: %v\n", err)
			os.Exit(2)
		}
		if object == nil {
			continue
		}
		raw, err := json.Marshal(object)
		if err != nil {
			fmt.Fprintf(os.Stderr, "promcheck: %v\n", err)
			os.Exit(2)
		}
		kind, _ := object["kind"].(string)
		var target any
		switch kind {
		case monitoringv1.ServiceMonitorsKind:
			target = &monitoringv1.ServiceMonitor{}
		case monitoringv1.PrometheusRuleKind:
			target = &monitoringv1.PrometheusRule{}
		default:
			continue
		}
		if object["apiVersion"] != "monitoring.coreos.com/v1" {
			fmt.Printf("%s: apiVersion %v, not monitoring.coreos.com/v1\n", kind, object["apiVersion"])
			failed++
			continue
		}
		if err := strict(raw, target); err != nil {
			name := ""
			if metadata, ok := object["metadata"].(map[string]any); ok {
				name, _ = metadata["name"].(string)
			}
			fmt.Printf("%s %s: %v\n", kind, name, err)
			failed++
			continue
		}
		checked++
	}
	fmt.Printf("checked %d, refused %d\n", checked, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
