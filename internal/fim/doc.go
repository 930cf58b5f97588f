// Package fim is truesight's file integrity monitor: it walks trees
// (configured host paths, the lower layers of container images) into
// baselines of file attributes and sha256 digests, keeps them in a bbolt
// database with an HMAC over every record, and computes a container's drift
// from its overlay upper layer alone, compared with the baselines of the
// layers below it.
//
// docs/fim.md describes the model; internal/cli holds the `truesight fim`
// commands and the part that watches containers in real time.
package fim
