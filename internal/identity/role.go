package identity

// A Role is what a member may do on the ledger. Roles are granted when a
// member is enrolled (in the genesis document or by transaction).
type Role string

// The roles a member can hold.
const (
	RolePatient      Role = "patient"
	RolePractitioner Role = "practitioner"
	RolePayer        Role = "payer"
	RoleResearcher   Role = "researcher"
	RoleAuditor      Role = "auditor"
	RoleSupplier     Role = "supplier"
	RoleRegulator    Role = "regulator"
	RoleAdmin        Role = "admin"
	// RoleSystem is a node's service identity: it signs the records a
	// node writes on behalf of the users its API authenticated (who are
	// named as authors in the records themselves).
	RoleSystem Role = "system"
)

// Roles returns every role in a fixed order. The caller owns the returned
// slice.
func Roles() []Role {
	return []Role{
		RolePatient,
		RolePractitioner,
		RolePayer,
		RoleResearcher,
		RoleAuditor,
		RoleSupplier,
		RoleRegulator,
		RoleAdmin,
		RoleSystem,
	}
}

// ValidRole reports whether s names one of the roles returned by Roles.
// The comparison is exact: "Admin" is not a role.
func ValidRole(s string) bool {
	switch Role(s) {
	case RolePatient, RolePractitioner, RolePayer, RoleResearcher,
		RoleAuditor, RoleSupplier, RoleRegulator, RoleAdmin, RoleSystem:
		return true
	}
	return false
}
