package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// A token key is 40 lowercase hex characters (160 random bits), the shape of
// DRF's keys. Only its SHA-256 digest is stored.
const tokenKeyLen = 40

type digest = [sha256.Size]byte

func newTokenKey() string {
	b := make([]byte, tokenKeyLen/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func tokenDigest(key string) digest { return sha256.Sum256([]byte(key)) }

// isTokenKey reports whether key has the shape of an issued key, so that
// garbage is refused without a lookup.
func isTokenKey(key string) bool {
	if len(key) != tokenKeyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// authenticate reads the Authorization header as DRF's TokenAuthentication
// does. It returns (nil, true) when the request carries no token
// credentials, and (nil, false) after writing the 401 for bad ones.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) (*User, bool) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return nil, true
	}
	scheme, key := cutASCIISpace(strings.TrimFunc(header, isASCIISpace))
	if !strings.EqualFold(scheme, "Token") {
		return nil, true
	}
	switch {
	case key == "":
		writeUnauthorized(w, "Invalid token header. No credentials provided.")
		return nil, false
	case strings.ContainsFunc(key, isASCIISpace):
		writeUnauthorized(w, "Invalid token header. Token string should not contain spaces.")
		return nil, false
	case !isTokenKey(key):
		writeUnauthorized(w, "Invalid token.")
		return nil, false
	}
	u, err := s.db.userByToken(r.Context(), tokenDigest(key))
	switch {
	case errors.Is(err, errNotFound):
		writeUnauthorized(w, "Invalid token.")
		return nil, false
	case err != nil:
		s.serverError(w, r, err)
		return nil, false
	case !u.Active:
		writeUnauthorized(w, "User inactive or deleted.")
		return nil, false
	}
	setLogUser(w, u.ID)
	return u, true
}

// cutASCIISpace splits s around its first run of white space.
func cutASCIISpace(s string) (before, after string) {
	i := strings.IndexFunc(s, isASCIISpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeftFunc(s[i:], isASCIISpace)
}

// isASCIISpace is Python's bytes.split() notion of white space, which DRF
// uses to split the header.
func isASCIISpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}

// authedHandler is a handler that runs only for an authenticated user.
type authedHandler func(http.ResponseWriter, *http.Request, *User)

// requireAuth refuses requests without a valid token, as DRF's
// IsAuthenticated permission does, and hands the user to h.
func (s *server) requireAuth(h authedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		if u == nil {
			writeUnauthorized(w, "Authentication credentials were not provided.")
			return
		}
		h(w, r, u)
	})
}

// allowAny runs the authentication check on an endpoint open to everyone:
// DRF refuses a bad token even there. It returns false after writing a 401.
func (s *server) allowAny(w http.ResponseWriter, r *http.Request) bool {
	_, ok := s.authenticate(w, r)
	return ok
}

// handleLogin exchanges a username and password for a new token. Every
// login issues a fresh token; earlier ones stay valid.
func (s *server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !s.allowAny(w, r) {
		return
	}
	in, ok := s.readInput(w, r)
	if !ok {
		return
	}
	fe := fieldErrors{}
	username, _ := in.text(fe, "username", required|trim)
	password, _ := in.text(fe, "password", required)
	fe.check("username", strings.ContainsRune(username, 0), msgNULChar)
	fe.check("password", strings.ContainsRune(password, 0), msgNULChar)
	if len(fe) > 0 {
		writeJSON(w, http.StatusBadRequest, fe)
		return
	}
	u, hash, err := s.db.userForLogin(r.Context(), usernameKey(username))
	if err != nil && !errors.Is(err, errNotFound) {
		s.serverError(w, r, err)
		return
	}
	// An unknown user costs the same hashing as a known one, so response
	// time does not tell which usernames exist.
	ok, err = s.hasher.verify(r.Context(), hash, password)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if u == nil || !ok || !u.Active {
		writeJSON(w, http.StatusBadRequest, fieldErrors{"non_field_errors": {"Unable to log in with provided credentials."}})
		return
	}
	setLogUser(w, u.ID)
	key := newTokenKey()
	if err := s.db.login(r.Context(), u.ID, tokenDigest(key)); err != nil {
		s.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Token    string   `json:"token"`
		UserID   int64    `json:"user_id"`
		Username string   `json:"username"`
		Email    string   `json:"email"`
		User     userJSON `json:"user"`
	}{key, u.ID, u.Username, u.Email, s.userJSON(r, u)})
}

// userForLogin returns the user with that username key and the password
// hash to check. For an unknown user it returns errNotFound and a hash of
// the same cost that matches no password.
func (st *store) userForLogin(ctx context.Context, key string) (*User, string, error) {
	var hash string
	u, err := scanUser(st.r.QueryRowContext(ctx,
		"SELECT "+userColumns+", password FROM users WHERE username_key = ?", key), &hash)
	if errors.Is(err, errNotFound) {
		return nil, "", err
	}
	if err != nil {
		return nil, "", fmt.Errorf("user for login: %w", err)
	}
	return u, hash, nil
}

// login records a login: a new token and the user's last_login.
func (st *store) login(ctx context.Context, userID int64, d digest) error {
	tx, err := st.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	defer tx.Rollback()
	t := now()
	if _, err := tx.ExecContext(ctx, "INSERT INTO tokens (digest, user_id, created) VALUES (?, ?, ?)", d[:], userID, t); err != nil {
		return fmt.Errorf("login: insert token: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE users SET last_login = ? WHERE id = ?", t, userID); err != nil {
		return fmt.Errorf("login: last_login: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	return nil
}

const userByTokenSQL = "SELECT " + userColumns + " FROM users WHERE id = (SELECT user_id FROM tokens WHERE digest = ?)"

// userByToken returns the owner of the token with digest d, from the cache
// when it can.
func (st *store) userByToken(ctx context.Context, d digest) (*User, error) {
	if u := st.cache.get(d); u != nil {
		return u, nil
	}
	gen := st.cache.generation()
	u, err := scanUser(st.userByTokenStmt.QueryRowContext(ctx, d[:]))
	if err != nil {
		return nil, err
	}
	st.cache.put(gen, d, u)
	return u, nil
}

// authCache maps token digests to users so that an authenticated read does
// not touch SQLite. Every write that could change an answer updates or
// drops the entries it affects after it commits, holding store.wmu so that
// those updates land in commit order, and bumps the generation; a lookup
// that read the database before such a change does not store what it
// read. Commits by other processes clear it all (store.watch).
type authCache struct {
	mu     sync.RWMutex
	gen    uint64
	tokens map[digest]int64
	users  map[int64]*User
}

// maxCachedTokens bounds the cache; past it, it starts again empty.
const maxCachedTokens = 100_000

func newAuthCache() *authCache {
	return &authCache{tokens: map[digest]int64{}, users: map[int64]*User{}}
}

func (c *authCache) get(d digest) *User {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := c.tokens[d]
	if !ok {
		return nil
	}
	return c.users[id]
}

func (c *authCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put stores what was read at generation gen, unless something was dropped
// since.
func (c *authCache) put(gen uint64, d digest, u *User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.tokens) >= maxCachedTokens {
		c.tokens, c.users = map[digest]int64{}, map[int64]*User{}
	}
	c.tokens[d] = u.ID
	c.users[u.ID] = u
}

// setUser replaces a cached user with the row as just committed.
func (c *authCache) setUser(u *User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if _, ok := c.users[u.ID]; ok {
		c.users[u.ID] = u
	}
}

func (c *authCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.tokens, c.users = map[digest]int64{}, map[int64]*User{}
}

// argonParams are argon2id's cost parameters.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
}

// defaultArgon is OWASP's recommended floor for argon2id: 19 MiB, two
// passes, one lane (about 30 ms on one core of the reference machine).
var defaultArgon = argonParams{memory: 19 * 1024, time: 2, threads: 1}

// hasher hashes and verifies passwords. It runs at most as many hashes at
// once as the work limit allows, so a flood of logins queues instead of
// taking memory without bound.
type hasher struct {
	params argonParams
	work   chan struct{}
	dummy  string // well-formed, matches no password; verified for unknown users
}

func newWorkLimit() chan struct{} { return make(chan struct{}, runtime.GOMAXPROCS(0)) }

func newHasher(p argonParams, work chan struct{}) *hasher {
	salt, sum := make([]byte, 16), make([]byte, 32)
	rand.Read(salt)
	rand.Read(sum)
	return &hasher{params: p, work: work, dummy: formatArgon2(p, salt, sum)}
}

// acquire waits for a work slot; release gives it back.
func acquire(ctx context.Context, work chan struct{}) error {
	select {
	case work <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func release(work chan struct{}) { <-work }

// hash returns the encoded argon2id hash of password, in the format of
// Django's Argon2PasswordHasher, so that parameters can change later and
// hashes stay readable by Django.
func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	if err := acquire(ctx, h.work); err != nil {
		return "", err
	}
	defer release(h.work)
	return h.encode(password), nil
}

func (h *hasher) encode(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	p := h.params
	return formatArgon2(p, salt, argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, 32))
}

func formatArgon2(p argonParams, salt, sum []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("argon2$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(sum))
}

// verify reports whether password matches encoded. An empty or unreadable
// encoded hash is checked against the dummy hash, taking the same time, and
// never matches.
func (h *hasher) verify(ctx context.Context, encoded, password string) (bool, error) {
	if err := acquire(ctx, h.work); err != nil {
		return false, err
	}
	defer release(h.work)
	p, salt, want, err := parseArgon2(encoded)
	if err != nil {
		p, salt, want, _ = parseArgon2(h.dummy)
		argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(want)))
		return false, nil
	}
	got := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

var errBadHash = errors.New("unreadable password hash")

// parseArgon2 reads an argon2id hash written by encode (or by Django).
func parseArgon2(encoded string) (argonParams, []byte, []byte, error) {
	var p argonParams
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 || fields[0] != "argon2" || fields[1] != "argon2id" || fields[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, errBadHash
	}
	if _, err := fmt.Sscanf(fields[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
		return p, nil, nil, errBadHash
	}
	// Refuse costs no hash of ours has, so a tampered row cannot stall a login.
	if p.memory < 8 || p.memory > 1<<20 || p.time < 1 || p.time > 16 || p.threads < 1 {
		return p, nil, nil, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(fields[4])
	sum, err2 := base64.RawStdEncoding.DecodeString(fields[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(sum) < 16 || len(sum) > 64 {
		return p, nil, nil, errBadHash
	}
	return p, salt, sum, nil
}
