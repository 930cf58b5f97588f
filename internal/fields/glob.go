package fields

// GlobMatch reports whether s matches the shell pattern p the way fnmatch(3)
// does without FNM_PATHNAME: '*' and '?' also match '/'. Patterns support
// '*', '?', bracket classes ([abc], [a-z], [!x], [^x]) and backslash
// escapes. fold compares case-insensitively (iglob) for ASCII letters.
func GlobMatch(p, s string, fold bool) bool {
	// Iterative matcher with single-star backtracking: linear in practice
	// and never exponential.
	pi, si := 0, 0
	starP, starS := -1, -1
	for si < len(s) {
		if pi < len(p) {
			switch p[pi] {
			case '*':
				starP, starS = pi, si
				pi++
				continue
			case '?':
				pi++
				si++
				continue
			case '[':
				if ok, next, valid := matchClass(p, pi, s[si], fold); valid {
					if ok {
						pi = next
						si++
						continue
					}
				} else if eqByte('[', s[si], fold) {
					pi++
					si++
					continue
				}
			case '\\':
				if pi+1 < len(p) && eqByte(p[pi+1], s[si], fold) {
					pi += 2
					si++
					continue
				}
			default:
				if eqByte(p[pi], s[si], fold) {
					pi++
					si++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		pi, si = starP+1, starS
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchClass matches c against the bracket expression starting at p[i].
// valid is false when the bracket is not closed (then '[' is literal).
func matchClass(p string, i int, c byte, fold bool) (ok bool, next int, valid bool) {
	j := i + 1
	negate := false
	if j < len(p) && (p[j] == '!' || p[j] == '^') {
		negate = true
		j++
	}
	first := true
	for j < len(p) && (first || p[j] != ']') {
		first = false
		lo := p[j]
		if lo == '\\' && j+1 < len(p) {
			j++
			lo = p[j]
		}
		hi := lo
		if j+2 < len(p) && p[j+1] == '-' && p[j+2] != ']' {
			hi = p[j+2]
			j += 2
		}
		if inRange(c, lo, hi) || (fold && (inRange(lower(c), lower(lo), lower(hi)) || inRange(upper(c), upper(lo), upper(hi)))) {
			ok = true
		}
		j++
	}
	if j >= len(p) {
		return false, 0, false
	}
	return ok != negate, j + 1, true
}

func inRange(c, lo, hi byte) bool { return lo <= c && c <= hi }

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 32
	}
	return c
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 32
	}
	return c
}

func eqByte(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	return fold && lower(a) == lower(b)
}

// ContainsFold is an allocation-free ASCII case-insensitive substring test.
func ContainsFold(s, sub string) bool {
	n := len(sub)
	if n == 0 {
		return true
	}
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n && lower(s[i+j]) == lower(sub[j]) {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}
