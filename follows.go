package main

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// publicUserJSON is PUBLIC_USER: how one user sees another. It has no email,
// and says whether the viewer follows that user.
type publicUserJSON struct {
	ID             int64   `json:"id"`
	Username       string  `json:"username"`
	Bio            string  `json:"bio"`
	ProfilePicture *string `json:"profile_picture"`
	FollowersCount int64   `json:"followers_count"`
	FollowingCount int64   `json:"following_count"`
	IsFollowing    bool    `json:"is_following"`
}

func (s *server) publicUserJSON(r *http.Request, u *User, following bool) publicUserJSON {
	return publicUserJSON{
		ID:             u.ID,
		Username:       u.Username,
		Bio:            u.Bio,
		ProfilePicture: s.pictureURL(r, u.Picture),
		FollowersCount: u.Followers,
		FollowingCount: u.Following,
		IsFollowing:    following,
	}
}

// userIDParam reads the {id} path segment: a positive integer, or false.
func userIDParam(r *http.Request) (int64, bool) {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 || strconv.FormatInt(id, 10) != raw {
		return 0, false
	}
	return id, true
}

func (s *server) handleFollow(w http.ResponseWriter, r *http.Request, me *caller) {
	s.changeFollow(w, r, me, true)
}

func (s *server) handleUnfollow(w http.ResponseWriter, r *http.Request, me *caller) {
	s.changeFollow(w, r, me, false)
}

// changeFollow makes the caller follow or unfollow the user in the path.
// Either is idempotent: repeating it answers the same and changes nothing.
func (s *server) changeFollow(w http.ResponseWriter, r *http.Request, me *caller, follow bool) {
	id, ok := userIDParam(r)
	if !ok {
		writeDetail(w, http.StatusNotFound, "Not found.")
		return
	}
	if id == me.ID {
		if follow {
			writeDetail(w, http.StatusBadRequest, "You cannot follow yourself.")
		} else {
			writeDetail(w, http.StatusBadRequest, "You cannot unfollow yourself.")
		}
		return
	}
	target, err := s.db.setFollow(r.Context(), me.ID, id, follow)
	if errors.Is(err, errNotFound) {
		writeDetail(w, http.StatusNotFound, "Not found.")
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	detail := "You are now following " + target.Username + "."
	if !follow {
		detail = "You have unfollowed " + target.Username + "."
	}
	writeJSON(w, http.StatusOK, struct {
		Detail string         `json:"detail"`
		User   publicUserJSON `json:"user"`
	}{detail, s.publicUserJSON(r, target, follow)})
}

// setFollow adds (follow) or removes the edge follower → followee and
// keeps both users' counts in the same transaction. It returns the
// followee as committed; an unknown or inactive followee is errNotFound.
func (st *store) setFollow(ctx context.Context, follower, followee int64, follow bool) (*User, error) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	tx, err := st.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("set follow: %w", err)
	}
	defer tx.Rollback()
	target, err := scanUser(tx.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = ? AND is_active", followee))
	if err != nil {
		return nil, err
	}
	var res sql.Result
	delta := 1
	if follow {
		res, err = tx.ExecContext(ctx, "INSERT INTO follows (follower_id, followee_id, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
			follower, followee, time.Now().UnixMicro())
	} else {
		delta = -1
		res, err = tx.ExecContext(ctx, "DELETE FROM follows WHERE follower_id = ? AND followee_id = ?", follower, followee)
	}
	if err != nil {
		return nil, fmt.Errorf("set follow: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return target, nil
	}
	const count = "UPDATE users SET %[1]s = %[1]s + ? WHERE id = ? RETURNING " + userColumns
	if target, err = scanUser(tx.QueryRowContext(ctx, fmt.Sprintf(count, "followers_count"), delta, followee)); err != nil {
		return nil, fmt.Errorf("set follow: %w", err)
	}
	me, err := scanUser(tx.QueryRowContext(ctx, fmt.Sprintf(count, "following_count"), delta, follower))
	if err != nil {
		return nil, fmt.Errorf("set follow: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("set follow: %w", err)
	}
	st.cache.setUser(target)
	st.cache.setUser(me)
	return target, nil
}

// handlePublicUser shows one active user as the caller sees them.
func (s *server) handlePublicUser(w http.ResponseWriter, r *http.Request, me *caller) {
	if u, following, ok := s.pathUser(w, r, me); ok {
		writeJSON(w, http.StatusOK, s.publicUserJSON(r, u, following))
	}
}

// pathUser reads the active user named by the path's {id}, and whether the
// caller follows them. It returns false after writing a 404 or 500.
func (s *server) pathUser(w http.ResponseWriter, r *http.Request, me *caller) (*User, bool, bool) {
	id, ok := userIDParam(r)
	if !ok {
		writeDetail(w, http.StatusNotFound, "Not found.")
		return nil, false, false
	}
	u, following, err := s.db.publicUser(r.Context(), me.ID, id)
	if errors.Is(err, errNotFound) {
		writeDetail(w, http.StatusNotFound, "Not found.")
		return nil, false, false
	}
	if err != nil {
		s.serverError(w, r, err)
		return nil, false, false
	}
	return u, following, true
}

// isFollowing is the column that says whether the viewer (the first
// parameter) follows the row's user u.
const isFollowing = "EXISTS (SELECT 1 FROM follows AS m WHERE m.follower_id = ?1 AND m.followee_id = u.id)"

func (st *store) publicUser(ctx context.Context, viewer, id int64) (*User, bool, error) {
	var following bool
	u, err := scanUser(st.r.QueryRowContext(ctx,
		"SELECT "+userColumnsOfU+", "+isFollowing+" FROM users AS u WHERE u.id = ?2 AND u.is_active", viewer, id), &following)
	return u, following, err
}

// Page sizes, as DRF's page_size query parameter takes them.
const (
	defaultPageSize = 20
	maxPageSize     = 100
)

// pageSize reads ?page_size= as DRF does: a positive integer, capped at the
// maximum; anything else means the default.
func pageSize(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("page_size"))
	if err != nil || n < 1 {
		return defaultPageSize
	}
	return min(n, maxPageSize)
}

// cursor is a position in a list ordered by (a, b) descending for the
// follow lists, or by key ascending for search: the item a page starts
// after, or, when back, the item a page ends before.
type cursor struct {
	back bool
	a, b int64
	key  string
}

// firstPage is the position before every item of a follow list.
var firstPage = cursor{a: math.MaxInt64, b: math.MaxInt64}

// String encodes the cursor as the opaque text of a link.
func (c cursor) String() string {
	dir := "n"
	if c.back {
		dir = "p"
	}
	b, _ := json.Marshal([]any{dir, c.a, c.b, c.key})
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseCursor reads ?cursor=; absent is start. It returns false, after
// writing DRF's 400, for a cursor this server did not write.
func parseCursor(w http.ResponseWriter, r *http.Request, start cursor) (cursor, bool) {
	raw, ok := r.URL.Query()["cursor"]
	if !ok {
		return start, true
	}
	var c cursor
	var dir string
	var parts []json.RawMessage
	b, err := base64.RawURLEncoding.DecodeString(raw[len(raw)-1])
	if err != nil || json.Unmarshal(b, &parts) != nil || len(parts) != 4 ||
		json.Unmarshal(parts[0], &dir) != nil || json.Unmarshal(parts[1], &c.a) != nil ||
		json.Unmarshal(parts[2], &c.b) != nil || json.Unmarshal(parts[3], &c.key) != nil || dir != "n" && dir != "p" {
		writeDetail(w, http.StatusBadRequest, "Invalid cursor")
		return cursor{}, false
	}
	c.back = dir == "p"
	return c, true
}

// listedUser is one result row with the sort key it was found under.
type listedUser struct {
	u         *User
	following bool
	pos       cursor
}

// pageJSON is DRF's pagination shape.
type pageJSON struct {
	Count    int64            `json:"count"`
	Next     *string          `json:"next"`
	Previous *string          `json:"previous"`
	Results  []publicUserJSON `json:"results"`
}

// writePage answers one page: rows is what a query for size+1 items from
// cur returned, in its own direction.
func (s *server) writePage(w http.ResponseWriter, r *http.Request, count int64, cur cursor, started bool, rows []listedUser, size int) {
	more := len(rows) > size
	rows = rows[:min(len(rows), size)]
	if cur.back {
		slices.Reverse(rows)
	}
	page := pageJSON{Count: count, Results: make([]publicUserJSON, 0, len(rows))}
	for _, row := range rows {
		page.Results = append(page.Results, s.publicUserJSON(r, row.u, row.following))
	}
	link := func(c cursor) *string {
		q := r.URL.Query()
		q.Set("cursor", c.String())
		u := s.baseURL(r) + r.URL.Path + "?" + q.Encode()
		return &u
	}
	if len(rows) > 0 {
		first, last := rows[0].pos, rows[len(rows)-1].pos
		first.back, last.back = true, false
		if cur.back && more || !cur.back && started {
			page.Previous = link(first)
		}
		if !cur.back && more || cur.back {
			page.Next = link(last)
		}
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *server) handleFollowers(w http.ResponseWriter, r *http.Request, me *caller) {
	s.followList(w, r, me, followersList)
}

func (s *server) handleFollowing(w http.ResponseWriter, r *http.Request, me *caller) {
	s.followList(w, r, me, followingList)
}

// A follow list is one direction of the follows table: the users on one
// side of the edges whose other side is the listed user.
type followDirection struct {
	listed, shown string // the follows columns of the listed user and of the users shown
}

var (
	followersList = followDirection{listed: "followee_id", shown: "follower_id"}
	followingList = followDirection{listed: "follower_id", shown: "followee_id"}
)

// followList answers a user's followers or followings, newest first, by
// keyset pagination on (created, user id): every page costs the same.
func (s *server) followList(w http.ResponseWriter, r *http.Request, me *caller, dir followDirection) {
	owner, _, ok := s.pathUser(w, r, me)
	if !ok {
		return
	}
	cur, ok := parseCursor(w, r, firstPage)
	if !ok {
		return
	}
	size := pageSize(r)
	rows, err := s.db.followPage(r.Context(), me.ID, owner.ID, dir, cur, size+1)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	count := owner.Followers
	if dir == followingList {
		count = owner.Following
	}
	s.writePage(w, r, count, cur, cur != firstPage, rows, size)
}

// followPageSQL is the keyset query for one direction of one follow list.
// CROSS JOIN pins follows as the outer loop, so SQLite walks the index in
// order and looks each user up by id, however the parameters are bound.
func followPageSQL(dir followDirection, back bool) string {
	cmp, order := "<", "DESC"
	if back {
		cmp, order = ">", "ASC"
	}
	return fmt.Sprintf(`SELECT f.created, %[1]s, %[2]s
		FROM follows AS f CROSS JOIN users AS u ON u.id = f.%[3]s
		WHERE f.%[4]s = ?2 AND u.is_active AND (f.created, f.%[3]s) %[5]s (?3, ?4)
		ORDER BY f.created %[6]s, f.%[3]s %[6]s LIMIT ?5`,
		userColumnsOfU, isFollowing, dir.shown, dir.listed, cmp, order)
}

func (st *store) followPage(ctx context.Context, viewer, id int64, dir followDirection, cur cursor, limit int) ([]listedUser, error) {
	rows, err := st.r.QueryContext(ctx, followPageSQL(dir, cur.back), viewer, id, cur.a, cur.b, limit)
	if err != nil {
		return nil, fmt.Errorf("follow page: %w", err)
	}
	defer rows.Close()
	var out []listedUser
	for rows.Next() {
		var row listedUser
		var u User
		if err := rows.Scan(&row.pos.a, &u.ID, &u.Username, &u.Email, &u.Bio, &u.Picture, &u.Followers, &u.Following, &u.Active, &row.following); err != nil {
			return nil, fmt.Errorf("follow page: %w", err)
		}
		row.u, row.pos.b = &u, u.ID
		out = append(out, row)
	}
	return out, rows.Err()
}

// handleUserSearch lists active users whose username starts with ?search=
// (ignoring case, as usernames are unique), ordered by username.
func (s *server) handleUserSearch(w http.ResponseWriter, r *http.Request, me *caller) {
	cur, ok := parseCursor(w, r, cursor{})
	if !ok {
		return
	}
	size := pageSize(r)
	prefix := usernameKey(r.URL.Query().Get("search"))
	count, rows, err := s.db.searchPage(r.Context(), me.ID, prefix, cur, size+1)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.writePage(w, r, count, cur, cur != cursor{}, rows, size)
}

// maxRune sorts after every character a username can hold, so that
// [prefix, prefix+maxRune) is the range of keys that start with prefix.
const maxRune = "\U0010FFFF"

// searchPageSQL pages through the username_key index from a cursor.
func searchPageSQL(back bool) string {
	cmp, order := ">", "ASC"
	if back {
		cmp, order = "<", "DESC"
	}
	return fmt.Sprintf(`SELECT %[1]s, %[2]s FROM users AS u
		WHERE u.username_key >= ?2 AND u.username_key < ?3 AND u.username_key %[3]s ?4 AND u.is_active
		ORDER BY u.username_key %[4]s LIMIT ?5`, userColumnsOfU, isFollowing, cmp, order)
}

const searchCountSQL = "SELECT count(*) FROM users WHERE username_key >= ?1 AND username_key < ?2 AND is_active"

func (st *store) searchPage(ctx context.Context, viewer int64, prefix string, cur cursor, limit int) (int64, []listedUser, error) {
	var count int64
	if err := st.r.QueryRowContext(ctx, searchCountSQL, prefix, prefix+maxRune).Scan(&count); err != nil {
		return 0, nil, fmt.Errorf("search count: %w", err)
	}
	rows, err := st.r.QueryContext(ctx, searchPageSQL(cur.back), viewer, prefix, prefix+maxRune, cur.key, limit)
	if err != nil {
		return 0, nil, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	var out []listedUser
	for rows.Next() {
		var row listedUser
		var u User
		if err := rows.Scan(&u.ID, &u.Username, &u.Email, &u.Bio, &u.Picture, &u.Followers, &u.Following, &u.Active, &row.following); err != nil {
			return 0, nil, fmt.Errorf("search: %w", err)
		}
		row.u, row.pos.key = &u, usernameKey(u.Username)
		out = append(out, row)
	}
	return count, out, rows.Err()
}
