package container

import "strings"

// imageRef is an image reference split the way Falco reports it.
type imageRef struct {
	repository string // registry and path, e.g. docker.io/library/nginx
	tag        string
	digest     string // sha256:...
}

// parseImageRef splits "repo[:tag][@digest]". The tag is the text after the
// last colon that follows the last slash, so a registry port
// (localhost:5000/app) is not taken for a tag. A reference with neither tag
// nor digest means tag latest, as every runtime reads it. An image id
// (sha256:<hex> or bare hex) has no repository.
func parseImageRef(ref string) imageRef {
	var r imageRef
	if ref == "" || isImageID(ref) {
		return r
	}
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref, r.digest = ref[:i], ref[i+1:]
	}
	slash := strings.LastIndexByte(ref, '/')
	if i := strings.LastIndexByte(ref, ':'); i > slash {
		ref, r.tag = ref[:i], ref[i+1:]
	}
	r.repository = ref
	if r.tag == "" && r.digest == "" {
		r.tag = "latest"
	}
	return r
}

// isImageID reports whether s names an image by id rather than by
// reference.
func isImageID(s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < '0' || b > '9') && (b < 'a' || b > 'f') {
			return false
		}
	}
	return true
}

// setImage fills the image fields from the reference the container was
// started with; digest is used when the reference carries none.
func (i *Info) setImage(ref, id, digest string) {
	i.Image = ref
	i.ImageID = strings.TrimPrefix(id, "sha256:")
	p := parseImageRef(ref)
	i.ImageRepository, i.ImageTag, i.ImageDigest = p.repository, p.tag, p.digest
	if i.ImageDigest == "" {
		i.ImageDigest = digest
	}
}

// repoDigest picks, from an image's "repo@sha256:..." list, the digest of
// the repository the container names, or the only one there is.
func repoDigest(repository string, repoDigests []string) string {
	only := ""
	for n, rd := range repoDigests {
		repo, digest, ok := strings.Cut(rd, "@")
		if !ok {
			continue
		}
		if repo == repository {
			return digest
		}
		if n == 0 {
			only = digest
		}
	}
	if len(repoDigests) == 1 {
		return only
	}
	return ""
}
