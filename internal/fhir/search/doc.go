// Package search owns FHIR R4 (4.0.1) search semantics over compact,
// in-memory values: an Index that keeps, per resource, only what the search
// parameters need (token keys, normalised strings, reference targets and date
// ranges, shared between resources through posting lists), and Search, which
// answers a type-level query with the matching ids, an exact total, a page,
// the ids of resources to _include, and issues for what it ignored.
//
// Semantics follow the specification (search.html): tokens over Coding,
// CodeableConcept, Identifier, ContactPoint, code and boolean, with :not,
// :text and :missing; strings that match a case- and accent-insensitive
// prefix, with :exact and :contains; references in their relative, absolute
// and id-only forms, with :[type]; dates as implicit ranges of their
// precision compared with the prefixes eq ne gt lt ge le sa eb ap exactly as
// the spec's table says. A comma between values is OR, a repeated parameter
// is AND. The parameters and their FHIRPath expressions come from the
// official definitions (see table.go).
//
// What it must not do: no I/O of any kind, no authorisation (the caller
// decides who may search and filters or rejects accordingly), and never
// persist or log the values it holds, which are personal data that the
// records store keeps only encrypted. The index is rebuilt at start from
// decrypted records and lives only in memory. Errors name the offending
// parameter but never quote its value.
package search
