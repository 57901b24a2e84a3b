package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of this API.
var GroupVersion = schema.GroupVersion{Group: "bindery.dev", Version: "v1alpha1"}

var (
	// SchemeBuilder registers this package's types. It uses only
	// apimachinery, so the API package stays light to import.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds this package's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &APIServiceExportTemplate{}, &APIServiceExportTemplateList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
