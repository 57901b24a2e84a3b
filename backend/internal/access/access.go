// Package access decides who may bind: the operator's allow-lists
// (--oidc-allowed-users, --oidc-allowed-groups), checked at login, at each
// bind, and again before a consumer's token is renewed.
package access

import "slices"

// AllowList is who may bind. Both lists empty allow every authenticated
// user.
type AllowList struct {
	// Users are subjects, verified email addresses or names.
	Users []string
	// Groups are values of the groups claim.
	Groups []string
}

// Allows reports whether the user with subject, name (a verified email,
// preferred_username or name) and groups may bind.
func (a AllowList) Allows(subject, name string, groups []string) bool {
	if len(a.Users) == 0 && len(a.Groups) == 0 {
		return true
	}
	if slices.Contains(a.Users, subject) || (name != "" && slices.Contains(a.Users, name)) {
		return true
	}
	return slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(a.Groups, g) })
}
