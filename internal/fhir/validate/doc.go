// Package validate checks FHIR R4 (4.0.1) resources before medledger stores
// them: the official FHIR R4 JSON schema, plus the rules the schema cannot
// express, derived from the official StructureDefinitions — required
// elements (including primitives such as Observation.status), one type per
// choice ([x]) element, real calendar dates in every date, dateTime and
// instant, whole numbers in integer elements, reference target types for
// literal references, and no empty objects, arrays, strings or nulls.
//
// It owns the embedded, reduced schema (fhir.schema.json) and the generated
// rule tables (rules_gen.go); both are produced by ./gen from the CC0
// standards data that scripts/fhir-spec.sh fetches, and `go generate`
// reproduces them byte for byte.
//
// It must not do I/O, log, or keep state between calls, and its issues must
// never quote resource content (element values are PHI): diagnostics name
// the element and the rule, never the value. It does not check terminology
// bindings beyond the schema's required-code enums, FHIRPath invariants,
// profiles, or whether referenced resources exist; those belong to the API
// and storage layers.
package validate
