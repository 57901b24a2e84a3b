// Package v1alpha1 holds Bindery's operator-facing API, group bindery.dev:
// the APIServiceExportTemplate a platform operator writes to say what the
// control plane offers to consumer clusters.
//
// +kubebuilder:object:generate=true
// +groupName=bindery.dev
package v1alpha1
