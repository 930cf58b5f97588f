// Package condition parses Falco's filter language (rule conditions) into
// an abstract syntax tree whose nodes carry byte positions, and prints trees
// back in the canonical form Falco's loader shows. It knows nothing about
// fields: compilation binds field names to extractors elsewhere. EventTypes
// computes the event types a condition can match, for the rule index.
//
// The grammar is libsinsp's, including its oddities: keywords are not
// reserved ("a and or" is a and a macro named or), "in", "intersects",
// "pmatch", "exists" and the symbolic operators need no blank after them
// ("a.b invalid" is "a.b in valid"), a field on the right of a comparison is
// a string value unless wrapped in val(), and an even run of "not"s cancels.
// Known differences from libsinsp, all on inputs no rule file relies on:
//
//   - libsinsp accepts "a.b containsin (x)" as "a.b in (x)" (a failed word
//     operator leaves its text consumed); we reject it.
//   - libsinsp accepts a list whose first item is a quoted string with a bad
//     escape as an empty list ("a.b in ('\q')"); we reject it.
//   - libsinsp's modifier lexing is not public; we take oneof/anyof/allof as
//     a modifier when a blank precedes it and blanks then "(" or a list name
//     other than "and"/"or" follow it, which agrees with every upstream test.
//   - printing differs only where libsinsp's text would not parse back to the
//     same tree (see print.go).
package condition
