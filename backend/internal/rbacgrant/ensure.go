package rbacgrant

import (
	"context"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// EnsureAdmission creates the admission policies and bindings objs, or
// puts back one that was changed (by hand, or by an older backend). It
// compares only what Bindery sets, leaving the API server's defaults
// alone, so that a policy that is right is never written again; with a
// cached client, a call then costs no API request.
func EnsureAdmission(ctx context.Context, c client.Client, objs ...client.Object) error {
	for _, obj := range objs {
		existing := obj.DeepCopyObject().(client.Object)
		err := c.Get(ctx, client.ObjectKeyFromObject(obj), existing)
		switch {
		case apierrors.IsNotFound(err):
			if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
			}
			continue
		case err != nil:
			return fmt.Errorf("reading %T %s: %w", obj, obj.GetName(), err)
		}
		if specSet(obj, existing) {
			continue
		}
		obj.SetResourceVersion(existing.GetResourceVersion())
		if err := c.Update(ctx, obj); err != nil {
			return fmt.Errorf("putting back %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}

// specSet reports whether existing has every field of want's spec as want
// sets it; fields want leaves empty (the API server's defaults) are not
// compared. DeepDerivative accepts a longer list where want's is a prefix,
// so the lengths of the spec's own lists are compared too (an extra
// validation added by hand is removed). The policies given here keep
// their nested lists fixed; a policy whose rules change with the exports
// (the cluster-scoped objects policy) is written whole instead.
func specSet(want, existing client.Object) bool {
	switch w := want.(type) {
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		e := existing.(*admissionregistrationv1.ValidatingAdmissionPolicy).Spec
		return equality.Semantic.DeepDerivative(w.Spec, e) &&
			len(w.Spec.Validations) == len(e.Validations) && len(w.Spec.Variables) == len(e.Variables) &&
			len(w.Spec.MatchConditions) == len(e.MatchConditions)
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		e := existing.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding).Spec
		return equality.Semantic.DeepDerivative(w.Spec, e) && len(w.Spec.ValidationActions) == len(e.ValidationActions)
	}
	return false
}
