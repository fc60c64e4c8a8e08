package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// A token key is 40 lowercase hex characters (160 random bits), the shape of
// DRF's keys. Only its SHA-256 digest is stored, and looked up: an equality
// lookup on a digest leaks nothing about the key through timing.
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

// timeLayout is how timestamps are stored and shown: UTC, to the
// microsecond, sortable as text, as DRF renders datetimes.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// session is the token a request authenticated with.
type session struct {
	id       int64
	userID   int64
	digest   digest
	lastUsed time.Time
}

// caller is the authenticated user of a request and the token it used.
type caller struct {
	*User
	session session
}

// authenticate reads the Authorization header as DRF's TokenAuthentication
// does. It returns (nil, true) when the request carries no token
// credentials, and (nil, false) after writing the 401 for bad ones.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) (*caller, bool) {
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
	u, sess, err := s.db.userByToken(r.Context(), tokenDigest(key))
	if err == nil {
		err = s.keepAlive(r.Context(), sess)
	}
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
	return &caller{User: u, session: sess}, true
}

// keepAlive applies the token lifetime: a token unused for longer is
// deleted and errNotFound. A token in use has last_used refreshed once it
// is older than a minute, or half the lifetime if that is shorter, so that
// reads do not all become writes.
func (s *server) keepAlive(ctx context.Context, sess session) error {
	now := s.now()
	idle := now.Sub(sess.lastUsed)
	if s.tokenTTL > 0 && idle > s.tokenTTL {
		if err := s.db.revokeTokens(ctx, "id = ?", sess.id); err != nil {
			return err
		}
		return errNotFound
	}
	refresh := time.Minute
	if s.tokenTTL > 0 {
		refresh = min(refresh, s.tokenTTL/2)
	}
	if idle > refresh {
		return s.db.touchToken(ctx, sess, now)
	}
	return nil
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

// authedHandler is a handler that runs only for an authenticated caller.
type authedHandler func(http.ResponseWriter, *http.Request, *caller)

// requireAuth refuses requests without a valid token, as DRF's
// IsAuthenticated permission does, and hands the caller to h.
func (s *server) requireAuth(h authedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		me, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		if me == nil {
			writeUnauthorized(w, "Authentication credentials were not provided.")
			return
		}
		h(w, r, me)
	})
}

// allowAny runs the authentication check on an endpoint open to everyone:
// DRF refuses a bad token even there. It returns false after writing a 401.
func (s *server) allowAny(w http.ResponseWriter, r *http.Request) bool {
	_, ok := s.authenticate(w, r)
	return ok
}

// userAgent is the client's name for itself, as the sessions list shows it.
func userAgent(r *http.Request) string {
	ua := []rune(strings.ToValidUTF8(r.UserAgent(), ""))
	return string(ua[:min(len(ua), 256)])
}

// handleLogin exchanges a username and password for a new token. Every
// login issues a fresh token; earlier ones stay valid.
func (s *server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !s.allowAny(w, r) || !s.throttleIP(w, r, "login") {
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
	key := usernameKey(username)
	if !s.throttleFailures(w, key) {
		return
	}
	u, hash, err := s.db.userForLogin(r.Context(), key)
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
		s.loginFailures.hit(key, s.now())
		writeJSON(w, http.StatusBadRequest, fieldErrors{"non_field_errors": {"Unable to log in with provided credentials."}})
		return
	}
	setLogUser(w, u.ID)
	// A hash in another format or at other costs, such as one imported from
	// Django, is replaced now: this is the only time the password is known.
	var newHash string
	if !s.hasher.current(hash) {
		if newHash, err = s.hasher.hash(r.Context(), password); err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	token := newTokenKey()
	if err := s.db.login(r.Context(), u.ID, tokenDigest(token), s.now(), userAgent(r), hash, newHash); err != nil {
		s.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Token    string   `json:"token"`
		UserID   int64    `json:"user_id"`
		Username string   `json:"username"`
		Email    string   `json:"email"`
		User     userJSON `json:"user"`
	}{token, u.ID, u.Username, u.Email, s.userJSON(r, u)})
}

// userForLogin returns the user with that username key and the password
// hash to check, or errNotFound.
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

// insertToken issues a token in tx.
func insertToken(ctx context.Context, tx *sql.Tx, userID int64, d digest, now time.Time, agent string) error {
	t := formatTime(now)
	_, err := tx.ExecContext(ctx, "INSERT INTO tokens (digest, user_id, created, last_used, user_agent) VALUES (?, ?, ?, ?, ?)",
		d[:], userID, t, t, agent)
	if err != nil {
		return fmt.Errorf("insert token: %w", err)
	}
	return nil
}

// login records a login: a new token and the user's last_login. A
// non-empty newHash replaces the password hash the login was checked
// against, oldHash, unless the password has changed since.
func (st *store) login(ctx context.Context, userID int64, d digest, now time.Time, agent, oldHash, newHash string) error {
	tx, err := st.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	defer tx.Rollback()
	if err := insertToken(ctx, tx, userID, d, now, agent); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE users SET last_login = ? WHERE id = ?", formatTime(now), userID); err != nil {
		return fmt.Errorf("login: last_login: %w", err)
	}
	if newHash != "" {
		if _, err := tx.ExecContext(ctx, "UPDATE users SET password = ? WHERE id = ? AND password = ?", newHash, userID, oldHash); err != nil {
			return fmt.Errorf("login: rehash: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	return nil
}

const userByTokenSQL = "SELECT " + userColumnsOfU + ", t.id, t.last_used" +
	" FROM tokens AS t CROSS JOIN users AS u ON u.id = t.user_id WHERE t.digest = ?"

// userByToken returns the token with digest d and its owner, from the
// cache when it can.
func (st *store) userByToken(ctx context.Context, d digest) (*User, session, error) {
	if u, sess, ok := st.cache.get(d); ok {
		return u, sess, nil
	}
	gen := st.cache.generation()
	sess := session{digest: d}
	var lastUsed string
	u, err := scanUser(st.userByTokenStmt.QueryRowContext(ctx, d[:]), &sess.id, &lastUsed)
	if err != nil {
		return nil, session{}, err
	}
	sess.userID = u.ID
	if sess.lastUsed, err = time.Parse(timeLayout, lastUsed); err != nil {
		return nil, session{}, fmt.Errorf("token %d: last_used: %w", sess.id, err)
	}
	st.cache.put(gen, sess, u)
	return u, sess, nil
}

// touchToken records that a token was used at now.
func (st *store) touchToken(ctx context.Context, sess session, now time.Time) error {
	if _, err := st.w.ExecContext(ctx, "UPDATE tokens SET last_used = ? WHERE id = ?", formatTime(now), sess.id); err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	st.cache.touch(sess.digest, now)
	return nil
}

// revokeTokens deletes the tokens that where (a condition on the tokens
// table) selects and forgets every cached token of the users they belonged
// to. It returns errNotFound when there were none.
func (st *store) revokeTokens(ctx context.Context, where string, args ...any) error {
	rows, err := st.w.QueryContext(ctx, "DELETE FROM tokens WHERE "+where+" RETURNING user_id", args...)
	if err != nil {
		return fmt.Errorf("revoke tokens: %w", err)
	}
	var users []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("revoke tokens: %w", err)
		}
		users = append(users, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("revoke tokens: %w", err)
	}
	for _, id := range users {
		st.cache.dropTokensOf(id)
	}
	if len(users) == 0 {
		return errNotFound
	}
	return nil
}

// handleLogout revokes the token that made the request.
func (s *server) handleLogout(w http.ResponseWriter, r *http.Request, me *caller) {
	s.revoke(w, r, "id = ?", me.session.id)
}

// handleLogoutAll revokes every token of the caller.
func (s *server) handleLogoutAll(w http.ResponseWriter, r *http.Request, me *caller) {
	s.revoke(w, r, "user_id = ?", me.ID)
}

// handleTokenDelete revokes one of the caller's tokens; another user's is
// not found.
func (s *server) handleTokenDelete(w http.ResponseWriter, r *http.Request, me *caller) {
	id, ok := userIDParam(r)
	if !ok {
		writeDetail(w, http.StatusNotFound, "Not found.")
		return
	}
	s.revoke(w, r, "id = ? AND user_id = ?", id, me.ID)
}

func (s *server) revoke(w http.ResponseWriter, r *http.Request, where string, args ...any) {
	err := s.db.revokeTokens(r.Context(), where, args...)
	if errors.Is(err, errNotFound) {
		writeDetail(w, http.StatusNotFound, "Not found.")
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// tokenJSON is one entry of the sessions list; the key is never shown.
type tokenJSON struct {
	ID        int64   `json:"id"`
	Created   string  `json:"created"`
	LastUsed  string  `json:"last_used"`
	Expires   *string `json:"expires"`
	UserAgent *string `json:"user_agent"`
	Current   bool    `json:"current"`
}

// handleTokens lists the caller's live tokens, newest first.
func (s *server) handleTokens(w http.ResponseWriter, r *http.Request, me *caller) {
	rows, err := s.db.r.QueryContext(r.Context(),
		"SELECT id, created, last_used, user_agent FROM tokens WHERE user_id = ? ORDER BY id DESC", me.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	defer rows.Close()
	list := []tokenJSON{}
	for rows.Next() {
		var t tokenJSON
		var agent string
		if err := rows.Scan(&t.ID, &t.Created, &t.LastUsed, &agent); err != nil {
			s.serverError(w, r, err)
			return
		}
		if s.tokenTTL > 0 {
			lastUsed, err := time.Parse(timeLayout, t.LastUsed)
			if err != nil {
				s.serverError(w, r, err)
				return
			}
			if s.now().Sub(lastUsed) > s.tokenTTL {
				continue // expired: deleted at its next use
			}
			expires := formatTime(lastUsed.Add(s.tokenTTL))
			t.Expires = &expires
		}
		if agent != "" {
			t.UserAgent = &agent
		}
		t.Current = t.ID == me.session.id
		list = append(list, t)
	}
	if err := rows.Err(); err != nil {
		s.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// handlePasswordChange sets a new password after checking the old one, and
// leaves the caller with exactly one token: the one it returns.
func (s *server) handlePasswordChange(w http.ResponseWriter, r *http.Request, me *caller) {
	in, ok := s.readInput(w, r)
	if !ok {
		return
	}
	fe := fieldErrors{}
	old, okOld := in.text(fe, "old_password", required)
	fe.check("old_password", okOld && strings.ContainsRune(old, 0), msgNULChar)
	password, okNew := in.text(fe, "new_password", required)
	if okNew {
		s.passwords.check(fe, "new_password", password, map[string]string{"username": me.Username, "email address": me.Email})
	}
	password2, okNew2 := in.text(fe, "new_password2", required)
	fe.check("new_password2", okNew2 && strings.ContainsRune(password2, 0), msgNULChar)
	if len(fe) > 0 {
		writeJSON(w, http.StatusBadRequest, fe)
		return
	}
	key := usernameKey(me.Username)
	if !s.throttleFailures(w, key) {
		return
	}
	_, hash, err := s.db.userForLogin(r.Context(), key)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if ok, err := s.hasher.verify(r.Context(), hash, old); err != nil {
		s.serverError(w, r, err)
		return
	} else if !ok {
		s.loginFailures.hit(key, s.now())
		writeJSON(w, http.StatusBadRequest, fieldErrors{"old_password": {"Your old password was entered incorrectly. Please enter it again."}})
		return
	}
	if password != password2 {
		writeJSON(w, http.StatusBadRequest, fieldErrors{"new_password2": {"The two password fields didn’t match."}})
		return
	}
	newHash, err := s.hasher.hash(r.Context(), password)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	token := newTokenKey()
	if err := s.db.setPassword(r.Context(), me.ID, newHash, tokenDigest(token), s.now(), userAgent(r)); err != nil {
		s.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": token})
}

// setPassword replaces a user's password hash and every token of theirs
// with one new token, in one transaction. A zero digest issues no token.
func (st *store) setPassword(ctx context.Context, userID int64, hash string, d digest, now time.Time, agent string) error {
	tx, err := st.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "UPDATE users SET password = ? WHERE id = ?", hash, userID); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM tokens WHERE user_id = ?", userID); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if d != (digest{}) {
		if err := insertToken(ctx, tx, userID, d, now, agent); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	st.cache.dropTokensOf(userID)
	return nil
}

// authCache maps token digests to sessions and users so that an
// authenticated read does not touch SQLite. Every write that could change
// an answer updates or drops the entries it affects after it commits,
// holding store.wmu where updates must land in commit order, and bumps the
// generation; a lookup that read the database before such a change does
// not store what it read. Commits by other processes clear it all
// (store.watch).
type authCache struct {
	mu     sync.RWMutex
	gen    uint64
	tokens map[digest]session
	users  map[int64]*User
}

// maxCachedTokens bounds the cache; past it, it starts again empty.
const maxCachedTokens = 100_000

func newAuthCache() *authCache {
	return &authCache{tokens: map[digest]session{}, users: map[int64]*User{}}
}

func (c *authCache) get(d digest) (*User, session, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	sess, ok := c.tokens[d]
	if !ok {
		return nil, session{}, false
	}
	u, ok := c.users[sess.userID]
	return u, sess, ok
}

func (c *authCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put stores what was read at generation gen, unless something changed
// since.
func (c *authCache) put(gen uint64, sess session, u *User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.tokens) >= maxCachedTokens {
		c.tokens, c.users = map[digest]session{}, map[int64]*User{}
	}
	c.tokens[sess.digest] = sess
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

// touch records a token's new last use.
func (c *authCache) touch(d digest, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if sess, ok := c.tokens[d]; ok {
		sess.lastUsed = at
		c.tokens[d] = sess
	}
}

// dropTokensOf forgets every cached token of a user.
func (c *authCache) dropTokensOf(userID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for d, sess := range c.tokens {
		if sess.userID == userID {
			delete(c.tokens, d)
		}
	}
}

func (c *authCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.tokens, c.users = map[digest]session{}, map[int64]*User{}
}
