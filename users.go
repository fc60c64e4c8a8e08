package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// User is one account as the API shows it. Values handed out by the store
// are shared through the auth cache and never modified.
type User struct {
	ID        int64
	Username  string
	Email     string
	Bio       string
	Picture   string // file name under media/profile_pictures, "" for none
	Followers int64
	Following int64
	Active    bool
}

// userColumns are the users columns that scanUser reads, in its order;
// userColumnsOfU are the same for queries that name users u.
const (
	userColumns    = "id, username, email, bio, profile_picture, followers_count, following_count, is_active"
	userColumnsOfU = "u.id, u.username, u.email, u.bio, u.profile_picture, u.followers_count, u.following_count, u.is_active"
)

// scanUser reads the userColumns of one row, then any extra destinations.
func scanUser(row *sql.Row, extra ...any) (*User, error) {
	var u User
	dest := append([]any{&u.ID, &u.Username, &u.Email, &u.Bio, &u.Picture, &u.Followers, &u.Following, &u.Active}, extra...)
	if err := row.Scan(dest...); errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	} else if err != nil {
		return nil, err
	}
	return &u, nil
}

// userJSON is USER, the shape every accounts endpoint returns.
type userJSON struct {
	ID             int64   `json:"id"`
	Username       string  `json:"username"`
	Email          string  `json:"email"`
	Bio            string  `json:"bio"`
	ProfilePicture *string `json:"profile_picture"`
	FollowersCount int64   `json:"followers_count"`
	FollowingCount int64   `json:"following_count"`
}

func (s *server) userJSON(r *http.Request, u *User) userJSON {
	return userJSON{
		ID:             u.ID,
		Username:       u.Username,
		Email:          u.Email,
		Bio:            u.Bio,
		ProfilePicture: s.pictureURL(r, u.Picture),
		FollowersCount: u.Followers,
		FollowingCount: u.Following,
	}
}

// Field limits, as the Django model has them.
const (
	maxUsername = 150
	maxEmail    = 254
	maxBio      = 1000
)

const (
	msgBadUsername   = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
	msgUsernameTaken = "A user with that username already exists."
	msgBadEmail      = "Enter a valid email address."
)

// usernameKey is the form under which usernames are unique and looked up:
// NFKC-normalised (as Django stores them) and case-folded, so that "Alice"
// and "alice" are one account.
func usernameKey(username string) string {
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(username)))
}

// checkUsername applies Django's username rules to an NFKC-normalised name:
// letters, digits and @.+-_ only, at most 150 characters.
func checkUsername(fe fieldErrors, username string) {
	valid := true
	for _, r := range username {
		if !(unicode.IsLetter(r) || unicode.IsNumber(r) || strings.ContainsRune("_.@+-", r)) {
			valid = false
			break
		}
	}
	fe.check("username", !valid, msgBadUsername)
	fe.check("username", utf8.RuneCountInString(username) > maxUsername, msgMaxLength(maxUsername))
	fe.check("username", strings.ContainsRune(username, 0), msgNULChar)
}

// checkEmail applies the email field's rules: at most 254 characters and
// Django's EmailValidator.
func checkEmail(fe fieldErrors, field, email string) {
	fe.check(field, utf8.RuneCountInString(email) > maxEmail, msgMaxLength(maxEmail))
	fe.check(field, strings.ContainsRune(email, 0), msgNULChar)
	fe.check(field, !validEmail(email), msgBadEmail)
}

func checkBio(fe fieldErrors, bio string) {
	fe.check("bio", utf8.RuneCountInString(bio) > maxBio, msgMaxLength(maxBio))
	fe.check("bio", strings.ContainsRune(bio, 0), msgNULChar)
}

// The parts of Django's EmailValidator.
var (
	emailUser = regexp.MustCompile(`(?i)^(?:[-!#$%&'*+/=?^_` + "`" + `{}|~0-9A-Z]+(?:\.[-!#$%&'*+/=?^_` + "`" + `{}|~0-9A-Z]+)*` +
		`|"(?:[\x01-\x08\x0b\x0c\x0e-\x1f!#-\[\]-\x7f]|\\[\x01-\x09\x0b\x0c\x0e-\x7f])*")$`)
	emailDomain  = regexp.MustCompile(`(?i)^(?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.)+[A-Z0-9-]{2,63}$`)
	emailLiteral = regexp.MustCompile(`(?i)^\[([A-F0-9:.]+)\]$`)
)

// validEmail is Django's EmailValidator. Internationalised domains, which
// Django checks after IDNA encoding, are accepted when every label is made
// of letters, digits and inner hyphens.
func validEmail(email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	user, domain := email[:at], email[at+1:]
	if !emailUser.MatchString(user) {
		return false
	}
	if domain == "localhost" {
		return true
	}
	if m := emailLiteral.FindStringSubmatch(domain); m != nil {
		return net.ParseIP(m[1]) != nil
	}
	if emailDomain.MatchString(domain) {
		return !strings.HasSuffix(domain, "-")
	}
	return validIDNDomain(domain)
}

func validIDNDomain(domain string) bool {
	if !strings.ContainsFunc(domain, func(r rune) bool { return r > unicode.MaxASCII }) {
		return false
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		n := utf8.RuneCountInString(l)
		if n == 0 || n > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return false
		}
		for _, r := range l {
			if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || unicode.Is(unicode.Mn, r)) {
				return false
			}
		}
	}
	return utf8.RuneCountInString(labels[len(labels)-1]) >= 2
}

// handleRegister creates an account and its first token.
func (s *server) handleRegister(w http.ResponseWriter, r *http.Request) {
	if !s.allowAny(w, r) || !s.throttleIP(w, r, "register") {
		return
	}
	in, ok := s.readInput(w, r)
	if !ok {
		return
	}
	fe := fieldErrors{}
	username, okUsername := in.text(fe, "username", required|trim)
	if okUsername {
		username = norm.NFKC.String(username)
		checkUsername(fe, username)
	}
	email, okEmail := in.text(fe, "email", required|trim)
	if okEmail {
		checkEmail(fe, "email", email)
	}
	password, okPassword := in.text(fe, "password", required)
	if okPassword {
		s.passwords.check(fe, "password", password, map[string]string{"username": username, "email address": email})
	}
	password2, okPassword2 := in.text(fe, "password2", required)
	fe.check("password2", okPassword2 && strings.ContainsRune(password2, 0), msgNULChar)
	bio, _ := in.text(fe, "bio", allowBlank|trim)
	checkBio(fe, bio)
	if okUsername && fe["username"] == nil {
		taken, err := s.db.usernameTaken(r.Context(), usernameKey(username))
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		fe.check("username", taken, msgUsernameTaken)
	}
	pic, ok := s.pictureField(w, r, fe, in)
	if !ok {
		return
	}
	if len(fe) == 0 && password != password2 {
		fe.add("password", "Password fields didn't match.")
	}
	if len(fe) > 0 {
		writeJSON(w, http.StatusBadRequest, fe)
		return
	}
	picture, err := s.savePicture(r.Context(), pic)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	hash, err := s.hasher.hash(r.Context(), password)
	if err != nil {
		s.removePicture(picture)
		s.serverError(w, r, err)
		return
	}
	token := newTokenKey()
	u, err := s.db.createUser(r.Context(), newUser{
		username: username, email: email, password: hash, bio: bio, picture: picture,
	}, tokenDigest(token), s.now(), userAgent(r))
	if err != nil {
		s.removePicture(picture)
		if errors.Is(err, errUsernameTaken) {
			writeJSON(w, http.StatusBadRequest, fieldErrors{"username": {msgUsernameTaken}})
			return
		}
		s.serverError(w, r, err)
		return
	}
	setLogUser(w, u.ID)
	writeJSON(w, http.StatusCreated, struct {
		User  userJSON `json:"user"`
		Token string   `json:"token"`
	}{s.userJSON(r, u), token})
}

// newUser is what registration stores.
type newUser struct {
	username, email, password, bio, picture string
}

func (st *store) usernameTaken(ctx context.Context, key string) (bool, error) {
	var n int
	err := st.r.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE username_key = ?", key).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("username taken: %w", err)
	}
	return n > 0, nil
}

// createUser inserts the user and its first token in one transaction. A
// username already taken, ignoring case, is errUsernameTaken.
func (st *store) createUser(ctx context.Context, nu newUser, d digest, now time.Time, agent string) (*User, error) {
	tx, err := st.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	defer tx.Rollback()
	u, err := scanUser(tx.QueryRowContext(ctx,
		`INSERT INTO users (username, username_key, email, password, bio, profile_picture, date_joined)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING `+userColumns,
		nu.username, usernameKey(nu.username), nu.email, nu.password, nu.bio, nu.picture, formatTime(now)))
	if isUniqueViolation(err) {
		return nil, errUsernameTaken
	}
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	if err := insertToken(ctx, tx, u.ID, d, now, agent); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

func (s *server) handleProfileGet(w http.ResponseWriter, r *http.Request, me *caller) {
	writeJSON(w, http.StatusOK, s.userJSON(r, me.User))
}

// handleProfileUpdate serves PUT and PATCH alike, as partial updates of
// email, bio and profile_picture (as the reference does). Every other key
// is ignored.
func (s *server) handleProfileUpdate(w http.ResponseWriter, r *http.Request, me *caller) {
	in, ok := s.readInput(w, r)
	if !ok {
		return
	}
	fe := fieldErrors{}
	var ch profileChanges
	if email, ok := in.text(fe, "email", trim); ok {
		checkEmail(fe, "email", email)
		ch.email = &email
	}
	if bio, ok := in.text(fe, "bio", allowBlank|trim); ok {
		checkBio(fe, bio)
		ch.bio = &bio
	}
	pic, ok := s.pictureField(w, r, fe, in)
	if !ok {
		return
	}
	if len(fe) > 0 {
		writeJSON(w, http.StatusBadRequest, fe)
		return
	}
	if pic.set {
		name, err := s.savePicture(r.Context(), pic)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		ch.picture = &name
	}
	if ch == (profileChanges{}) {
		writeJSON(w, http.StatusOK, s.userJSON(r, me.User))
		return
	}
	updated, old, err := s.db.updateProfile(r.Context(), me.ID, ch)
	if err != nil {
		if ch.picture != nil {
			s.removePicture(*ch.picture)
		}
		s.serverError(w, r, err)
		return
	}
	if old != "" {
		s.removePicture(old)
	}
	writeJSON(w, http.StatusOK, s.userJSON(r, updated))
}

// profileChanges are the fields a profile update sets; nil leaves one as
// it is, and an empty picture clears it.
type profileChanges struct {
	email, bio, picture *string
}

const updateProfileSQL = `UPDATE users SET email = coalesce(?, email), bio = coalesce(?, bio),
	profile_picture = coalesce(?, profile_picture) WHERE id = ? RETURNING ` + userColumns

// updateProfile applies ch and returns the updated user and, when ch sets
// the picture, the picture it had before.
func (st *store) updateProfile(ctx context.Context, id int64, ch profileChanges) (*User, string, error) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	if ch.picture == nil {
		u, err := scanUser(st.updateStmt.QueryRowContext(ctx, ch.email, ch.bio, nil, id))
		if err != nil {
			return nil, "", fmt.Errorf("update profile: %w", err)
		}
		st.cache.setUser(u)
		return u, "", nil
	}
	tx, err := st.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, "", fmt.Errorf("update profile: %w", err)
	}
	defer tx.Rollback()
	var old string
	if err := tx.QueryRowContext(ctx, "SELECT profile_picture FROM users WHERE id = ?", id).Scan(&old); err != nil {
		return nil, "", fmt.Errorf("update profile: %w", err)
	}
	u, err := scanUser(tx.StmtContext(ctx, st.updateStmt).QueryRowContext(ctx, ch.email, ch.bio, ch.picture, id))
	if err != nil {
		return nil, "", fmt.Errorf("update profile: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, "", fmt.Errorf("update profile: %w", err)
	}
	st.cache.setUser(u)
	return u, old, nil
}
