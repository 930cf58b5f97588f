// Package condition parses Falco's filter language (rule conditions) into
// an abstract syntax tree whose nodes carry byte positions, and prints trees
// back in the canonical form Falco's loader shows. It knows nothing about
// fields: compilation binds field names to extractors elsewhere.
package condition
