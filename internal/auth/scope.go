// Package auth owns who a caller is and what their token lets them ask
// for: SMART on FHIR scopes (v1 and v2 syntax), short-lived JWT access
// tokens signed by the node, and the OAuth2 endpoints that issue them
// (SMART Backend Services and the authorization code flow with PKCE).
//
// It decides nothing about patients' records beyond scopes: whether a
// consent, a care relationship or break-glass allows an access is the
// access package's job. It must never log a token, a client assertion or
// a passphrase.
package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Context is the level a resource scope applies at.
type Context string

const (
	// ContextPatient limits access to the token's patient compartment.
	ContextPatient Context = "patient"
	// ContextUser allows what the user may access.
	ContextUser Context = "user"
	// ContextSystem is a backend service acting for its organisation.
	ContextSystem Context = "system"
)

// Permission letters, in SMART v2's order: create, read, update, delete,
// search.
const (
	PermCreate = 'c'
	PermRead   = 'r'
	PermUpdate = 'u'
	PermDelete = 'd'
	PermSearch = 's'
)

// ResourceScope is one parsed resource scope, such as
// "patient/Observation.rs" or "user/*.read".
type ResourceScope struct {
	Context Context
	Type    string // a resource type, or "*"
	Perms   string // a subset of "cruds", in that order
}

func (s ResourceScope) String() string {
	return string(s.Context) + "/" + s.Type + "." + s.Perms
}

// Scopes is a parsed scope string. The zero value grants nothing.
type Scopes struct {
	Resources []ResourceScope
	// Other holds the non-resource scopes granted (openid, fhirUser,
	// launch/patient, ...).
	Other []string
}

// knownOther are the non-resource scopes this server understands.
var knownOther = []string{"openid", "fhirUser", "profile", "launch", "launch/patient", "online_access"}

// ParseScopes parses a space-separated scope string in SMART v1 or v2
// syntax. v1 ".read" means v2 ".rs", ".write" means ".cud" and ".*" means
// ".cruds". Unknown or malformed scopes are an error naming the scope;
// v2 scopes with query parameters (granular scopes) and offline_access
// are refused as unsupported.
func ParseScopes(s string) (Scopes, error) {
	var out Scopes
	for _, tok := range strings.Fields(s) {
		if slices.Contains(out.Other, tok) {
			continue
		}
		if slices.Contains(knownOther, tok) {
			out.Other = append(out.Other, tok)
			continue
		}
		rs, err := parseResourceScope(tok)
		if err != nil {
			return Scopes{}, err
		}
		if !slices.Contains(out.Resources, rs) {
			out.Resources = append(out.Resources, rs)
		}
	}
	return out, nil
}

func parseResourceScope(tok string) (ResourceScope, error) {
	if tok == "offline_access" {
		return ResourceScope{}, fmt.Errorf("scope %q: refresh tokens are not issued; ask for a new access token instead", tok)
	}
	ctx, rest, ok := strings.Cut(tok, "/")
	if !ok {
		return ResourceScope{}, fmt.Errorf("scope %q: unknown scope", tok)
	}
	switch Context(ctx) {
	case ContextPatient, ContextUser, ContextSystem:
	default:
		return ResourceScope{}, fmt.Errorf("scope %q: context %q is not patient, user or system", tok, ctx)
	}
	if strings.Contains(rest, "?") {
		return ResourceScope{}, fmt.Errorf("scope %q: granular scopes (with ?parameters) are not supported", tok)
	}
	typ, perm, ok := strings.Cut(rest, ".")
	if !ok || typ == "" || perm == "" {
		return ResourceScope{}, fmt.Errorf("scope %q: want context/Type.permissions, as in patient/Observation.rs", tok)
	}
	if typ != "*" && !validTypeName(typ) {
		return ResourceScope{}, fmt.Errorf("scope %q: %q is not a resource type", tok, typ)
	}
	var perms string
	switch perm {
	case "read":
		perms = "rs"
	case "write":
		perms = "cud"
	case "*":
		perms = "cruds"
	default:
		// v2: letters of "cruds", each at most once, in that order.
		last := -1
		for _, c := range perm {
			i := strings.IndexRune("cruds", c)
			if i <= last {
				return ResourceScope{}, fmt.Errorf("scope %q: permissions %q are not a subset of \"cruds\" in that order", tok, perm)
			}
			last = i
		}
		perms = perm
	}
	return ResourceScope{Context: Context(ctx), Type: typ, Perms: perms}, nil
}

func validTypeName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// String formats the scopes in canonical v2 syntax.
func (s Scopes) String() string {
	parts := slices.Clone(s.Other)
	for _, r := range s.Resources {
		parts = append(parts, r.String())
	}
	return strings.Join(parts, " ")
}

// Has reports whether the non-resource scope name was granted.
func (s Scopes) Has(name string) bool { return slices.Contains(s.Other, name) }

// Grant is what the scopes allow for one interaction: the contexts that
// permit it. An empty Grant allows nothing.
type Grant struct{ Patient, User, System bool }

// Any reports whether any context permits the interaction.
func (g Grant) Any() bool { return g.Patient || g.User || g.System }

// Allows returns which contexts grant every permission in perms (letters
// of "cruds") on resources of type typ.
func (s Scopes) Allows(typ, perms string) Grant {
	var g Grant
	for _, ctx := range []Context{ContextPatient, ContextUser, ContextSystem} {
		ok := true
		for _, p := range perms {
			if !s.allowsOne(ctx, typ, p) {
				ok = false
				break
			}
		}
		if !ok || perms == "" {
			continue
		}
		switch ctx {
		case ContextPatient:
			g.Patient = true
		case ContextUser:
			g.User = true
		case ContextSystem:
			g.System = true
		}
	}
	return g
}

func (s Scopes) allowsOne(ctx Context, typ string, p rune) bool {
	for _, r := range s.Resources {
		if r.Context == ctx && (r.Type == "*" || r.Type == typ) && strings.ContainsRune(r.Perms, p) {
			return true
		}
	}
	return false
}

// Narrow returns the scopes of s that want also contains, for a client
// asking for less than it may have. A resource scope is kept with the
// permissions both grant.
func (s Scopes) Narrow(want Scopes) Scopes {
	var out Scopes
	for _, o := range want.Other {
		if s.Has(o) {
			out.Other = append(out.Other, o)
		}
	}
	for _, w := range want.Resources {
		var perms []byte
		for _, p := range w.Perms {
			if w.Type == "*" {
				if s.allowsWildcard(w.Context, p) {
					perms = append(perms, byte(p))
				}
			} else if s.allowsOne(w.Context, w.Type, p) {
				perms = append(perms, byte(p))
			}
		}
		if len(perms) > 0 {
			out.Resources = append(out.Resources, ResourceScope{Context: w.Context, Type: w.Type, Perms: string(perms)})
		}
	}
	return out
}

func (s Scopes) allowsWildcard(ctx Context, p rune) bool {
	for _, r := range s.Resources {
		if r.Context == ctx && r.Type == "*" && strings.ContainsRune(r.Perms, p) {
			return true
		}
	}
	return false
}
