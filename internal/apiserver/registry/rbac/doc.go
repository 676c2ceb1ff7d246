// Package rbac holds the strategies for rbac.authorization.k8s.io/v1 Roles, ClusterRoles,
// RoleBindings and ClusterRoleBindings: the apiGroup defaults of role references and subjects, rules
// that say what they grant, subjects of known kinds, and a role reference that never changes (a
// binding is re-created to point elsewhere, so nobody silently gains another role's rights).
//
// It must never authorize requests or check for privilege escalation: the authorizer and the
// escalation check in the API server own that.
package rbac
