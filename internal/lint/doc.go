// Package lint holds no code: its tests enforce the project's structural
// rules (dependency arrows, package documentation) over the whole module.
package lint
