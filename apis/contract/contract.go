// Package contract encodes and decodes, in one place, the settings that
// travel between the backend, the konnector and the CLI beyond kube-bind's
// own fields: what an APIServiceExport carries in Bindery's annotations.
// Upstream kube-bind konnectors ignore them.
package contract

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
)

// ExportSettings are the Bindery settings of one APIServiceExport.
type ExportSettings struct {
	// Claims are the permission claims of the export's service: the
	// Secrets and ConfigMaps that travel with the bound objects.
	Claims []binderyv1alpha1.PermissionClaim
	// Namespaces, when not empty, are the only consumer namespaces the
	// service covers.
	Namespaces []string
}

// ReadExport decodes the settings from an export's annotations.
func ReadExport(annotations map[string]string) (ExportSettings, error) {
	var s ExportSettings
	if raw := annotations[binderyv1alpha1.PermissionClaimsAnnotation]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &s.Claims); err != nil {
			return ExportSettings{}, fmt.Errorf("the %s annotation is not a list of permission claims: %w", binderyv1alpha1.PermissionClaimsAnnotation, err)
		}
	}
	if raw := annotations[binderyv1alpha1.ConsumerNamespacesAnnotation]; raw != "" {
		for _, ns := range strings.Split(raw, ",") {
			if ns = strings.TrimSpace(ns); ns != "" && !slices.Contains(s.Namespaces, ns) {
				s.Namespaces = append(s.Namespaces, ns)
			}
		}
	}
	return s, nil
}

// WriteExport encodes the settings into an export's annotations, and
// removes the annotations of settings that are empty.
func (s ExportSettings) WriteExport(annotations map[string]string) error {
	delete(annotations, binderyv1alpha1.PermissionClaimsAnnotation)
	delete(annotations, binderyv1alpha1.ConsumerNamespacesAnnotation)
	if len(s.Claims) > 0 {
		raw, err := json.Marshal(s.Claims)
		if err != nil {
			return fmt.Errorf("encoding permission claims: %w", err)
		}
		annotations[binderyv1alpha1.PermissionClaimsAnnotation] = string(raw)
	}
	if len(s.Namespaces) > 0 {
		annotations[binderyv1alpha1.ConsumerNamespacesAnnotation] = strings.Join(s.Namespaces, ",")
	}
	return nil
}

// Key is a stable string of the settings, for telling whether they
// changed.
func (s ExportSettings) Key() string {
	a := map[string]string{}
	_ = s.WriteExport(a)
	return a[binderyv1alpha1.PermissionClaimsAnnotation] + "|" + a[binderyv1alpha1.ConsumerNamespacesAnnotation]
}
