package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"
)

// cookieName is the session cookie's name.
const cookieName = "truesight_console"

// Session limits: a session lasts sessionTTL; at most maxSessions live at
// once (the oldest goes first), so that a loop of logins cannot grow memory.
const (
	sessionTTL  = 12 * time.Hour
	maxSessions = 1024
)

// auth checks the token and the sessions it was exchanged for.
type auth struct {
	token [32]byte // sha256 of the token: compared in constant time
	https bool     // cookies are Secure when served over TLS

	mu       sync.Mutex
	sessions map[[32]byte]time.Time // sha256 of a session id -> expiry
}

func newAuth(token string, https bool) *auth {
	return &auth{token: sha256.Sum256([]byte(token)), https: https, sessions: map[[32]byte]time.Time{}}
}

// GenerateToken returns a new random token (256 bits, URL-safe).
func GenerateToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenOK compares a presented token with the console's in constant time
// (both hashed first, so neither length nor content leaks through timing).
func (a *auth) tokenOK(given string) bool {
	h := sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(h[:], a.token[:]) == 1
}

// allowed reports whether r carries the token (Authorization: Bearer) or
// a live session cookie.
func (a *auth) allowed(r *http.Request) bool {
	if h := r.Header.Get("Authorization"); h != "" {
		given, ok := strings.CutPrefix(h, "Bearer ")
		return ok && a.tokenOK(given)
	}
	c, err := r.Cookie(cookieName)
	if err != nil {
		return false
	}
	key := sha256.Sum256([]byte(c.Value))
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.sessions[key]
	if ok && time.Now().After(exp) {
		delete(a.sessions, key)
		return false
	}
	return ok
}

// newSession starts a session and returns its cookie.
func (a *auth) newSession() *http.Cookie {
	id := GenerateToken()
	now := time.Now()
	a.mu.Lock()
	if len(a.sessions) >= maxSessions {
		var oldest [32]byte
		var first time.Time
		for k, exp := range a.sessions {
			if first.IsZero() || exp.Before(first) {
				oldest, first = k, exp
			}
		}
		delete(a.sessions, oldest)
	}
	a.sessions[sha256.Sum256([]byte(id))] = now.Add(sessionTTL)
	a.mu.Unlock()
	return &http.Cookie{
		Name: cookieName, Value: id, Path: "/ui", MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: a.https,
	}
}

// securityHeaders are sent with every console response: a strict
// Content-Security-Policy (only the console's own script and style, no
// inline code, no framing), no sniffing, no referrer (the token link
// must not leak), no caching.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}
