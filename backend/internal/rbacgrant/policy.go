package rbacgrant

import (
	"fmt"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// ClusterObjectPolicyName names the ValidatingAdmissionPolicy and its
// binding that confine konnectors' writes of cluster-scoped objects.
const ClusterObjectPolicyName = "bindery-konnector-cluster-objects"

// PolicyResource is one cluster-scoped exported resource as the admission
// policy sees it.
type PolicyResource struct {
	Group    string
	Resource string
	Versions []string
	// Prefixed says whether names must start with the consumer's cluster
	// namespace (Prefixed isolation); None keeps names as they are.
	Prefixed bool
}

// ClusterObjectPolicy is the admission policy that makes the create grant
// of ClusterObjectRules safe: a konnector (the ServiceAccount "konnector"
// of a Bindery cluster namespace) may create or update a cluster-scoped
// exported object only when it carries the label ownerLabel with its own
// cluster namespace, and, under Prefixed isolation, only when its name
// starts with that namespace and a dash. Since the backend grants every
// other verb by the names of the objects that carry a consumer's label, a
// konnector can never reach another consumer's objects. It returns nil
// when there is no such resource.
func ClusterObjectPolicy(ownerLabel string, resources []PolicyResource) (*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	if len(resources) == 0 {
		return nil, nil
	}
	sorted := append([]PolicyResource(nil), resources...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Group != sorted[j].Group {
			return sorted[i].Group < sorted[j].Group
		}
		return sorted[i].Resource < sorted[j].Resource
	})
	var rules []admissionregistrationv1.NamedRuleWithOperations
	var unprefixed []string
	for _, r := range sorted {
		versions := uniqueSorted(append([]string(nil), r.Versions...))
		rules = append(rules, admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{r.Group}, APIVersions: versions, Resources: []string{r.Resource},
				Scope: ptr.To(admissionregistrationv1.ClusterScope),
			},
		}})
		if !r.Prefixed {
			unprefixed = append(unprefixed, fmt.Sprintf("%q", r.Group+"/"+r.Resource))
		}
	}
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: ClusterObjectPolicyName},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: rules},
			MatchConditions:  []admissionregistrationv1.MatchCondition{{Name: "bindery-konnector", Expression: konnectorUser}},
			Variables: []admissionregistrationv1.Variable{
				{Name: "clusterNamespace", Expression: `request.userInfo.username.split(":")[2]`},
				{Name: "prefixed", Expression: fmt.Sprintf(`!(request.resource.group + "/" + request.resource.resource in [%s])`, strings.Join(unprefixed, ", "))},
			},
			Validations: []admissionregistrationv1.Validation{
				{
					Expression:        fmt.Sprintf(`has(object.metadata.labels) && %q in object.metadata.labels && object.metadata.labels[%q] == variables.clusterNamespace`, ownerLabel, ownerLabel),
					MessageExpression: fmt.Sprintf(`"a konnector may only write objects labelled %s=" + variables.clusterNamespace`, ownerLabel),
					Reason:            ptr.To(metav1.StatusReasonForbidden),
				},
				{
					Expression:        `!variables.prefixed || object.metadata.name.startsWith(variables.clusterNamespace + "-")`,
					MessageExpression: `"under Prefixed isolation a konnector may only write objects named " + variables.clusterNamespace + "-<name>"`,
					Reason:            ptr.To(metav1.StatusReasonForbidden),
				},
			},
		},
	}
	return policy, denyBinding(ClusterObjectPolicyName)
}

// konnectorUser matches the requests of a konnector: the ServiceAccount
// "konnector" of a Bindery cluster namespace.
const konnectorUser = `request.userInfo.username.startsWith("system:serviceaccount:bindery-") && ` +
	`request.userInfo.username.endsWith(":konnector") && size(request.userInfo.username.split(":")) == 4`

// ClaimCopyPolicyName names the ValidatingAdmissionPolicy and its binding
// that confine konnectors' writes of Secrets and ConfigMaps.
const ClaimCopyPolicyName = "bindery-konnector-claim-copies"

// ClaimCopyPolicy lets a konnector create, change and delete Secrets and
// ConfigMaps in the namespaces labelled roleLabel only when they are its
// claim copies, labelled claimLabel: a consumer whose claims let it write
// there can never change or delete what the provider put there, such as
// the connection Secrets of other objects. It creates only the names its
// claims allow, as the namespace's ClaimableNamesAnnotation lists them:
// RBAC cannot limit create by name.
func ClaimCopyPolicy(roleLabel, claimLabel string) (*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	labelled := func(obj string) string {
		return fmt.Sprintf(`has(%s.metadata.labels) && %q in %s.metadata.labels`, obj, claimLabel, obj)
	}
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: ClaimCopyPolicyName},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: coreInLabelledNamespaces(roleLabel,
				[]admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete},
				"secrets", "configmaps"),
			MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "bindery-konnector", Expression: konnectorUser}},
			Variables: []admissionregistrationv1.Variable{{
				Name: "claimable",
				Expression: fmt.Sprintf(`has(namespaceObject.metadata.annotations) && %q in namespaceObject.metadata.annotations ? `+
					`namespaceObject.metadata.annotations[%q].split(",") : []`, ClaimableNamesAnnotation, ClaimableNamesAnnotation),
			}},
			Validations: []admissionregistrationv1.Validation{
				{
					Expression: `(request.operation == "DELETE" || ` + labelled("object") + `) && ` +
						`(request.operation == "CREATE" || ` + labelled("oldObject") + `)`,
					Message: "a konnector may only write the Secrets and ConfigMaps it copied for a permission claim (labelled " + claimLabel + ")",
					Reason:  ptr.To(metav1.StatusReasonForbidden),
				},
				{
					Expression: `request.operation != "CREATE" || ` +
						`variables.claimable.exists(n, n == request.resource.resource + "/" + request.name || n == request.resource.resource + "/*")`,
					MessageExpression: `"a konnector may only create the " + request.resource.resource + " its permission claims name; " + request.name + " is not one of them"`,
					Reason:            ptr.To(metav1.StatusReasonForbidden),
				},
			},
		},
	}
	return policy, denyBinding(ClaimCopyPolicyName)
}

// TokenSecretPolicyName names the ValidatingAdmissionPolicy and its
// binding that keep consumers from creating service-account token Secrets.
const TokenSecretPolicyName = "bindery-no-token-secrets"

// TokenSecretPolicy refuses the creation of Secrets of type
// kubernetes.io/service-account-token in the namespaces labelled
// roleLabel: a consumer whose claims let it create Secrets there would
// otherwise get a token of a ServiceAccount of the provider filled in.
// Nobody needs such Secrets there: consumers' credentials are
// TokenRequest tokens.
func TokenSecretPolicy(roleLabel string) (*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: TokenSecretPolicyName},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: coreInLabelledNamespaces(roleLabel,
				[]admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				"secrets"),
			Validations: []admissionregistrationv1.Validation{{
				Expression: `!has(object.type) || object.type != "kubernetes.io/service-account-token"`,
				Message:    "service-account token Secrets cannot be created in Bindery's consumer namespaces",
				Reason:     ptr.To(metav1.StatusReasonForbidden),
			}},
		},
	}
	return policy, denyBinding(TokenSecretPolicyName)
}

// coreInLabelledNamespaces matches ops on core resources in the
// namespaces labelled roleLabel.
func coreInLabelledNamespaces(roleLabel string, ops []admissionregistrationv1.OperationType, resources ...string) *admissionregistrationv1.MatchResources {
	return &admissionregistrationv1.MatchResources{
		NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: roleLabel, Operator: metav1.LabelSelectorOpExists}}},
		ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: ops,
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: resources, Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
		}}},
	}
}

// denyBinding binds the policy of name to every request it matches, and
// denies what it refuses.
func denyBinding(name string) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
}
