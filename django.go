package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// importBatch is how many rows one transaction of the import writes: few
// enough that a server on the same file waits only briefly for each.
const importBatch = 1000

// runImportDjango is the import-django subcommand: it copies the users,
// follows, tokens and profile pictures of the Django original's database
// into socialapi's, so that both passwords and logged-in clients keep
// working.
func runImportDjango(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), "Usage: socialapi %s -from DJANGO_DB [-media DJANGO_MEDIA_ROOT] [-merge] [-db FILE]\n\n"+
			"Imports the users, follows, tokens and profile pictures of the Django social_media_api.\n\n", args[0])
		flags.PrintDefaults()
	}
	var o importOptions
	flags.StringVar(&o.from, "from", "", "the Django app's SQLite database `file` (required)")
	flags.StringVar(&o.media, "media", "", "the Django app's MEDIA_ROOT `folder`; without it no pictures are imported")
	flags.BoolVar(&o.merge, "merge", false, "import into a database that already has users, skipping the usernames it has")
	flags.StringVar(&o.db, "db", envOr(getenv, "SOCIALAPI_DB", filepath.Join("data", "db.sqlite3")),
		"SQLite database `file` to import into, created if missing; pictures go in media/ beside it (SOCIALAPI_DB)")
	maxUpload := byteSize(5 << 20)
	if v := getenv("SOCIALAPI_MAX_UPLOAD"); v != "" {
		if err := maxUpload.Set(v); err != nil {
			return fmt.Errorf("SOCIALAPI_MAX_UPLOAD: %w", err)
		}
	}
	flags.Var(&maxUpload, "max-upload", "largest accepted picture `size`, in bytes or with KiB/MiB, as for uploads (SOCIALAPI_MAX_UPLOAD)")
	if err := parseFlags(flags, args[1:]); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flags.Arg(0))
	}
	if o.from == "" {
		return errors.New("import-django: -from is required: the Django app's SQLite database file")
	}
	o.maxUpload, o.batch = int64(maxUpload), importBatch
	if err := o.run(ctx, stdout, stderr); err != nil {
		return fmt.Errorf("import-django: %w", err)
	}
	return nil
}

// importOptions are import-django's flags, and the batch size.
type importOptions struct {
	from, media, db string
	merge           bool
	maxUpload       int64
	batch           int // rows per transaction
}

// run imports, reporting what it skips or changes on stderr and a summary
// on stdout.
func (o importOptions) run(ctx context.Context, stdout, stderr io.Writer) error {
	src, err := openDjango(ctx, o.from)
	if err != nil {
		return err
	}
	defer src.Close()
	tables, err := findDjangoTables(ctx, src, o.from)
	if err != nil {
		return err
	}
	var root *os.Root
	if o.media != "" {
		if root, err = os.OpenRoot(o.media); err != nil {
			return fmt.Errorf("media folder: %w", err)
		}
		defer root.Close()
	}
	if err := os.MkdirAll(filepath.Dir(o.db), 0o755); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	if same(o.from, o.db) {
		return errors.New("-from and -db are the same file")
	}
	st, err := openStore(o.db)
	if err != nil {
		return err
	}
	defer st.Close()
	var existing int64
	if err := st.r.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&existing); err != nil {
		return err
	}
	if existing > 0 && !o.merge {
		return fmt.Errorf("%s already has users (%d); give -merge to import beside them", o.db, existing)
	}
	pics := &server{
		log:       slog.New(slog.NewTextHandler(stderr, nil)),
		mediaDir:  filepath.Join(filepath.Dir(o.db), "media"),
		maxUpload: o.maxUpload,
		work:      newWorkLimit(),
	}
	if err := pics.prepareMedia(); err != nil {
		return err
	}
	// One read transaction over the Django database for the whole import,
	// so that users, tokens and follows are read from one snapshot.
	tx, err := src.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("read %s: %w", o.from, err)
	}
	defer tx.Rollback()
	imp := &djangoImport{
		src: tx, t: tables, st: st, pics: pics, media: root, stderr: stderr, batch: o.batch,
		ids: map[int64]int64{}, keys: map[string]djangoName{},
	}
	if err := imp.users(ctx); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	if err := imp.tokens(ctx); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	if err := imp.follows(ctx); err != nil {
		return fmt.Errorf("follows: %w", err)
	}
	n := imp.n
	fmt.Fprintf(stdout, "imported users=%d edges=%d tokens=%d pictures=%d; skipped users=%d edges=%d tokens=%d; errors=%d\n",
		n.users, n.edges, n.tokens, n.pictures, n.skipped, n.skippedEdges, n.skippedTokens, n.errors)
	return nil
}

// same reports whether two paths name one existing file.
func same(a, b string) bool {
	ia, err1 := os.Stat(a)
	ib, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(ia, ib)
}

// openDjango opens the Django database read-only; it must exist.
func openDjango(ctx context.Context, path string) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("-from: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+
		"?mode=ro&_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// djangoTables are the names of the tables the import reads.
type djangoTables struct {
	user, followers, token string // token is "" when DRF's authtoken app has no table
}

// findDjangoTables finds the custom user model's table the way Django
// names it for AUTH_USER_MODEL "<app>.User": <app>_user, with its
// followers many-to-many as <app>_user_followers. The social_media_api's
// accounts_user wins if there are several; DRF's tokens are authtoken_token.
func findDjangoTables(ctx context.Context, db *sql.DB, path string) (djangoTables, error) {
	var t djangoTables
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_schema WHERE type = 'table'")
	if err != nil {
		return t, fmt.Errorf("read %s: %w", path, err)
	}
	names := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return t, fmt.Errorf("read %s: %w", path, err)
		}
		names[name] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return t, fmt.Errorf("read %s: %w", path, err)
	}
	var candidates []string
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if strings.HasSuffix(name, "_user") && names[name+"_followers"] {
			candidates = append(candidates, name)
		}
	}
	switch {
	case names["accounts_user"] && names["accounts_user_followers"]:
		t.user = "accounts_user"
	case len(candidates) == 1:
		t.user = candidates[0]
	case len(candidates) > 1:
		return t, fmt.Errorf("%s has several user tables (%s); expected one <app>_user", path, strings.Join(candidates, ", "))
	default:
		return t, fmt.Errorf("%s has no Django user table: expected <app>_user (accounts_user in "+
			"social_media_api) with its followers table <app>_user_followers, as the app's migrations create them", path)
	}
	t.followers = t.user + "_followers"
	if names["authtoken_token"] {
		t.token = "authtoken_token"
	}
	for _, want := range []struct {
		table string
		cols  []string
	}{
		{t.user, []string{"id", "password", "last_login", "is_superuser", "username", "first_name", "last_name",
			"email", "is_staff", "is_active", "date_joined", "bio", "profile_picture"}},
		{t.followers, []string{"id", "from_user_id", "to_user_id"}},
		{t.token, []string{"key", "created", "user_id"}},
	} {
		if want.table == "" {
			continue
		}
		if err := checkColumns(ctx, db, want.table, want.cols); err != nil {
			return t, fmt.Errorf("%s: %w", path, err)
		}
	}
	return t, nil
}

// checkColumns fails unless table has every column in want.
func checkColumns(ctx context.Context, db *sql.DB, table string, want []string) error {
	rows, err := db.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", table)
	if err != nil {
		return fmt.Errorf("columns of %s: %w", table, err)
	}
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("columns of %s: %w", table, err)
		}
		have[name] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("columns of %s: %w", table, err)
	}
	var missing []string
	for _, c := range want {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("table %s lacks the columns %s", table, strings.Join(missing, ", "))
	}
	return nil
}

// quoteIdent quotes a table name for SQL.
func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// djangoImport is one run of import-django.
type djangoImport struct {
	src    *sql.Tx // the Django database, read-only
	t      djangoTables
	st     *store
	pics   *server  // decodes and saves pictures exactly as uploads are
	media  *os.Root // the Django MEDIA_ROOT; nil without -media
	stderr io.Writer
	batch  int // rows per transaction

	ids  map[int64]int64       // Django user id → ours, for every user imported
	keys map[string]djangoName // username key → the first Django user seen with it
	n    importCounts
}

type djangoName struct {
	id       int64
	username string
}

func (d djangoName) String() string { return fmt.Sprintf("user %d (%s)", d.id, d.username) }

type importCounts struct {
	users, edges, tokens, pictures       int
	skipped, skippedEdges, skippedTokens int
	errors, noMedia                      int
}

// report writes one line about a row that was skipped or changed.
func (imp *djangoImport) report(format string, args ...any) {
	fmt.Fprintf(imp.stderr, "import-django: "+format+"\n", args...)
}

func (imp *djangoImport) progress(what string, done, total int64) {
	fmt.Fprintf(imp.stderr, "import-django: %s %d/%d\n", what, done, total)
}

// count returns the number of rows and, for a table with an integer id,
// the largest id.
func (imp *djangoImport) count(ctx context.Context, table string) (n, maxID int64, err error) {
	err = imp.src.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(table)).Scan(&n)
	if err == nil && table != imp.t.token {
		err = imp.src.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM "+quoteIdent(table)).Scan(&maxID)
	}
	return n, maxID, err
}

// djangoUser is one row of the Django user table. Its timestamps are as
// Django stores them until prepareUser turns them into ours.
type djangoUser struct {
	djangoName
	email, password, bio, picture, firstName, lastName string
	active, staff, superuser                           bool
	joined                                             string
	lastLogin                                          *string
}

// pendingUser is a Django user about to be inserted, with its picture
// already saved under our name.
type pendingUser struct {
	djangoUser
	key, savedPicture string
}

// users imports the users in batches, in Django id order, so that of two
// usernames that differ only in case the older one is kept.
func (imp *djangoImport) users(ctx context.Context) error {
	total, maxID, err := imp.count(ctx, imp.t.user)
	if err != nil {
		return err
	}
	// Users whose Django id is taken here get ids above every Django id,
	// so that they never take the id of a Django user still to come.
	next := maxID + 1
	var done int64
	for after := int64(0); ; {
		batch, err := imp.readUsers(ctx, after)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			break
		}
		after = batch[len(batch)-1].id
		var pending []pendingUser
		for _, u := range batch {
			p, ok, err := imp.prepareUser(ctx, u)
			if err != nil {
				imp.removePictures(pending)
				return err
			}
			if ok {
				pending = append(pending, p)
			}
		}
		if next, err = imp.insertUsers(ctx, pending, next); err != nil {
			imp.removePictures(pending)
			return err
		}
		done += int64(len(batch))
		imp.progress("users", done, total)
	}
	if imp.n.noMedia > 0 {
		imp.report("%d pictures not imported: give -media with the Django MEDIA_ROOT to import them", imp.n.noMedia)
	}
	return nil
}

func (imp *djangoImport) readUsers(ctx context.Context, after int64) ([]djangoUser, error) {
	rows, err := imp.src.QueryContext(ctx, `SELECT id, coalesce(username, ''), coalesce(email, ''), coalesce(password, ''),
		coalesce(bio, ''), coalesce(profile_picture, ''), coalesce(first_name, ''), coalesce(last_name, ''),
		coalesce(is_active, 0), coalesce(is_staff, 0), coalesce(is_superuser, 0),
		coalesce(CAST(date_joined AS TEXT), ''), CAST(last_login AS TEXT)
		FROM `+quoteIdent(imp.t.user)+` WHERE id > ? ORDER BY id LIMIT ?`, after, imp.batch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []djangoUser
	for rows.Next() {
		var u djangoUser
		var lastLogin sql.NullString
		if err := rows.Scan(&u.id, &u.username, &u.email, &u.password, &u.bio, &u.picture, &u.firstName, &u.lastName,
			&u.active, &u.staff, &u.superuser, &u.joined, &lastLogin); err != nil {
			return nil, err
		}
		if lastLogin.Valid {
			u.lastLogin = &lastLogin.String
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// prepareUser decides whether a Django user can be imported and, if so,
// converts its timestamps and saves its picture. It returns false, after
// reporting why, for a user to leave behind.
func (imp *djangoImport) prepareUser(ctx context.Context, u djangoUser) (pendingUser, bool, error) {
	p := pendingUser{djangoUser: u, key: usernameKey(u.username)}
	if first, ok := imp.keys[p.key]; ok {
		imp.report("%s: username differs only in case from %s; skipped with its follows and token", u.djangoName, first)
		imp.n.skipped++
		return p, false, nil
	}
	imp.keys[p.key] = u.djangoName
	var localID int64
	err := imp.st.r.QueryRowContext(ctx, "SELECT id FROM users WHERE username_key = ?", p.key).Scan(&localID)
	if err == nil {
		imp.report("%s: username taken here by user %d; skipped with its follows and token", u.djangoName, localID)
		imp.n.skipped++
		return p, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return p, false, err
	}
	joined, err := djangoTime(u.joined)
	if err != nil {
		imp.report("%s: date_joined: %v; not imported", u.djangoName, err)
		imp.n.errors++
		return p, false, nil
	}
	p.joined, p.lastLogin = joined, nil // from here on, in our format
	if u.lastLogin != nil {
		if t, err := djangoTime(*u.lastLogin); err == nil {
			p.lastLogin = &t
		} else {
			imp.report("%s: last_login: %v; imported without it", u.djangoName, err)
			imp.n.errors++
		}
	}
	if _, err := parseHash(u.password); err != nil && !strings.HasPrefix(u.password, "!") {
		algorithm, _, _ := strings.Cut(u.password, "$")
		imp.report("%s: password hash %q cannot be checked here; they cannot log in with it", u.djangoName, algorithm)
		imp.n.errors++
	}
	if p.savedPicture, err = imp.picture(ctx, u); err != nil {
		return p, false, err
	}
	return p, true, nil
}

// djangoTimeLayouts are the shapes Django's SQLite backend stores
// datetimes in: UTC, microseconds only when not zero.
var djangoTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
}

// djangoTime converts a datetime as Django stores it to ours.
func djangoTime(s string) (string, error) {
	for _, layout := range djangoTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return formatTime(t), nil
		}
	}
	return "", fmt.Errorf("unreadable datetime %q", s)
}

// picture validates and re-encodes a user's picture as an upload is, and
// returns its new name; "" when the user has none, or after reporting why
// it cannot be imported. err is a failure of the import's own.
func (imp *djangoImport) picture(ctx context.Context, u djangoUser) (string, error) {
	if u.picture == "" {
		return "", nil
	}
	if imp.media == nil {
		imp.n.noMedia++
		return "", nil
	}
	problem, name, err := imp.savePicture(ctx, u.picture)
	if err != nil {
		return "", err
	}
	if problem != "" {
		imp.report("%s: picture %q %s; imported without a picture", u.djangoName, u.picture, problem)
		imp.n.errors++
	}
	return name, nil
}

// savePicture opens rel under the media folder, refusing any path that
// leads out of it, symbolic links included, and saves it as an upload.
func (imp *djangoImport) savePicture(ctx context.Context, rel string) (problem, name string, err error) {
	path := filepath.FromSlash(rel)
	if !filepath.IsLocal(path) {
		return "is outside the media folder", "", nil
	}
	info, err := imp.media.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "is missing", "", nil
	case err != nil:
		return fmt.Sprintf("cannot be read (%v)", err), "", nil
	case !info.Mode().IsRegular():
		return "is not a regular file", "", nil
	case info.Size() == 0:
		return "is empty", "", nil
	case info.Size() > imp.pics.maxUpload:
		return fmt.Sprintf("is larger than the %d-byte upload limit", imp.pics.maxUpload), "", nil
	}
	f, err := imp.media.Open(path)
	if err != nil {
		return fmt.Sprintf("cannot be read (%v)", err), "", nil
	}
	defer f.Close()
	img, format, msg, err := imp.pics.decodePicture(ctx, f)
	switch {
	case err != nil:
		return "", "", err
	case msg == msgImageTooBig:
		return "is larger than 10000 pixels a side or 40 megapixels", "", nil
	case msg != "":
		return "is not a valid PNG, JPEG or GIF image", "", nil
	}
	name, err = imp.pics.savePicture(ctx, pictureInput{set: true, img: img, format: format})
	return "", name, err
}

// removePictures deletes the pictures saved for users that were not
// stored after all.
func (imp *djangoImport) removePictures(pending []pendingUser) {
	for _, p := range pending {
		imp.pics.removePicture(p.savedPicture)
	}
}

// insertUsers stores one batch in one transaction. A user keeps its Django
// id unless a user here has it; then it gets next, which it returns
// advanced past the ids it gave out.
func (imp *djangoImport) insertUsers(ctx context.Context, pending []pendingUser, next int64) (int64, error) {
	tx, err := imp.st.w.BeginTx(ctx, nil)
	if err != nil {
		return next, err
	}
	defer tx.Rollback()
	var maxLocal int64
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM users").Scan(&maxLocal); err != nil {
		return next, err
	}
	next = max(next, maxLocal+1)
	insert, err := tx.PrepareContext(ctx, `INSERT INTO users (id, username, username_key, email, password, bio,
		profile_picture, is_active, is_staff, is_superuser, first_name, last_name, date_joined, last_login)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return next, err
	}
	defer insert.Close()
	ids := map[int64]int64{}
	var late []pendingUser // lost their username to a registration since prepareUser
	pictures := 0
	for _, p := range pending {
		id := p.id
		var taken bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?)", id).Scan(&taken); err != nil {
			return next, err
		}
		if taken {
			id, next = next, next+1
		}
		_, err := insert.ExecContext(ctx, id, p.username, p.key, p.email, p.password, p.bio, p.savedPicture,
			p.active, p.staff, p.superuser, p.firstName, p.lastName, p.joined, p.lastLogin)
		if isUniqueViolation(err) {
			late = append(late, p)
			continue
		}
		if err != nil {
			return next, fmt.Errorf("%s: %w", p.djangoName, err)
		}
		ids[p.id] = id
		if p.savedPicture != "" {
			pictures++
		}
	}
	if err := tx.Commit(); err != nil {
		return next, err
	}
	for _, p := range late {
		imp.report("%s: username taken here; skipped with its follows and token", p.djangoName)
		imp.pics.removePicture(p.savedPicture)
		imp.n.skipped++
	}
	for _, p := range pending {
		if id, ok := ids[p.id]; ok && id != p.id {
			imp.report("%s: id taken here; imported as user %d", p.djangoName, id)
		}
	}
	maps.Copy(imp.ids, ids)
	imp.n.users += len(ids)
	imp.n.pictures += pictures
	return next, nil
}

// djangoToken is one row of DRF's token table.
type djangoToken struct {
	key, created string
	userID       int64
}

// tokens imports DRF's tokens of the imported users, as digests like ours.
func (imp *djangoImport) tokens(ctx context.Context) error {
	if imp.t.token == "" {
		imp.report("no authtoken_token table; no tokens to import")
		return nil
	}
	total, _, err := imp.count(ctx, imp.t.token)
	if err != nil {
		return err
	}
	var done int64
	for after := ""; ; {
		var batch []djangoToken
		rows, err := imp.src.QueryContext(ctx, `SELECT key, coalesce(CAST(created AS TEXT), ''), user_id FROM `+
			quoteIdent(imp.t.token)+` WHERE key > ? ORDER BY key LIMIT ?`, after, imp.batch)
		if err != nil {
			return err
		}
		for rows.Next() {
			var t djangoToken
			if err := rows.Scan(&t.key, &t.created, &t.userID); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, t)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		after = batch[len(batch)-1].key
		if err := imp.insertTokens(ctx, batch); err != nil {
			return err
		}
		done += int64(len(batch))
		imp.progress("tokens", done, total)
	}
}

// insertTokens stores one batch of tokens in one transaction. last_used is
// the time of the import, so that a token lifetime counts from it rather
// than expiring every old token at once.
func (imp *djangoImport) insertTokens(ctx context.Context, batch []djangoToken) error {
	tx, err := imp.st.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := formatTime(time.Now())
	imported := 0
	for _, t := range batch {
		userID, ok := imp.ids[t.userID]
		if !ok {
			imp.n.skippedTokens++
			continue
		}
		created, err := djangoTime(t.created)
		if !isTokenKey(t.key) || err != nil {
			imp.report("token of Django user %d: not a DRF key with its creation time; not imported", t.userID)
			imp.n.errors++
			continue
		}
		d := tokenDigest(t.key)
		res, err := tx.ExecContext(ctx, `INSERT INTO tokens (digest, user_id, created, last_used) VALUES (?, ?, ?, ?)
			ON CONFLICT (digest) DO NOTHING`, d[:], userID, created, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			imp.report("token of Django user %d: already here; not imported", t.userID)
			imp.n.errors++
			continue
		}
		imported++
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	imp.n.tokens += imported
	return nil
}

// djangoEdge is one row of the followers many-to-many. Django's row
// (from_user_id A, to_user_id B) puts B in A.followers: B follows A.
type djangoEdge struct{ id, followee, follower int64 }

// follows imports the followers many-to-many. Django keeps no time for a
// follow, so created is made up from the row id, just before the import:
// lists show imported follows newest first in the order Django added them,
// and after any follow made here since.
func (imp *djangoImport) follows(ctx context.Context) error {
	total, maxID, err := imp.count(ctx, imp.t.followers)
	if err != nil {
		return err
	}
	base := time.Now().UnixMicro() - maxID - 1
	var done int64
	for after := int64(0); ; {
		var batch []djangoEdge
		rows, err := imp.src.QueryContext(ctx, `SELECT id, from_user_id, to_user_id FROM `+
			quoteIdent(imp.t.followers)+` WHERE id > ? ORDER BY id LIMIT ?`, after, imp.batch)
		if err != nil {
			return err
		}
		for rows.Next() {
			var e djangoEdge
			if err := rows.Scan(&e.id, &e.followee, &e.follower); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, e)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		after = batch[len(batch)-1].id
		if err := imp.insertFollows(ctx, batch, base); err != nil {
			return err
		}
		done += int64(len(batch))
		imp.progress("follows", done, total)
	}
}

// insertFollows stores one batch of follows, and the counts of the users
// they touch, in one transaction.
func (imp *djangoImport) insertFollows(ctx context.Context, batch []djangoEdge, base int64) error {
	tx, err := imp.st.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	touched := map[int64]bool{}
	imported := 0
	for _, e := range batch {
		follower, ok1 := imp.ids[e.follower]
		followee, ok2 := imp.ids[e.followee]
		if !ok1 || !ok2 {
			imp.n.skippedEdges++
			continue
		}
		if follower == followee {
			imp.report("follow %d: Django user %d follows themselves; not imported", e.id, e.follower)
			imp.n.errors++
			continue
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO follows (follower_id, followee_id, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
			follower, followee, base+e.id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			imported++
			touched[follower], touched[followee] = true, true
		}
	}
	// The counts are recounted rather than added to, so that they are right
	// whatever the table held before. Like the lists, they leave out
	// inactive users (see store.setActive).
	for id := range touched {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET
			followers_count = (SELECT count(*) FROM follows AS f JOIN users AS o ON o.id = f.follower_id WHERE f.followee_id = ?1 AND o.is_active),
			following_count = (SELECT count(*) FROM follows AS f JOIN users AS o ON o.id = f.followee_id WHERE f.follower_id = ?1 AND o.is_active)
			WHERE id = ?1`, id); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	imp.n.edges += imported
	return nil
}
